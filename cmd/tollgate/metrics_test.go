package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
)

const metricsAdminToken = "metrics-static-admin-0123456789"

// metricsConfig is a config with an admin static token and toml added.
func metricsConfig(t *testing.T, toml string) string {
	t.Helper()
	t.Setenv("TG_METRICS_ADMIN", metricsAdminToken)
	return `
[[auth.static_tokens]]
name = "scraper"
token_env = "TG_METRICS_ADMIN"
role = "admin"
` + toml
}

// getAs sends GET url with an optional bearer token.
func getAs(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// wantMetrics fails unless resp is a 200 Prometheus exposition.
func wantMetrics(t *testing.T, resp *http.Response) {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(raw), "# TYPE go_goroutines gauge") {
		t.Fatalf("metrics = %d %q %.200q, want 200 text/plain with go_goroutines",
			resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("metrics headers = %v, want nosniff and X-Request-Id", resp.Header)
	}
}

// metricsOperation returns the OpenAPI operation of GET /metrics.
func metricsOperation(t *testing.T, base string) map[string]any {
	t.Helper()
	resp := getAs(t, base+"/openapi.json", "")
	defer resp.Body.Close()
	var doc struct {
		Paths map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	op := doc.Paths["/metrics"]["get"]
	if op == nil {
		t.Fatal("the OpenAPI document has no GET /metrics")
	}
	return op
}

func responseCodes(op map[string]any) map[string]bool {
	out := map[string]bool{}
	for code := range op["responses"].(map[string]any) {
		out[code] = true
	}
	return out
}

// TestMetricsRequireAuth: with metrics.require_auth, /metrics answers 401
// missing_authorization (with WWW-Authenticate) without a credential and
// serves an admin; the OpenAPI document marks it admin. (The access matrix
// covers every other credential.)
func TestMetricsRequireAuth(t *testing.T) {
	cfg := testConfigTOML(t, metricsConfig(t, "[metrics]\nrequire_auth = true\n"))
	base, _, _ := startServe(t, cfg)
	resp := getAs(t, base+"/metrics", "")
	if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="tollgate"`; got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
	wantEnvelope(t, resp, http.StatusUnauthorized, "authentication_error", "missing_authorization")
	wantMetrics(t, getAs(t, base+"/metrics", metricsAdminToken))

	op := metricsOperation(t, base)
	if op["x-tollgate-access"] != "admin" {
		t.Fatalf("x-tollgate-access = %v, want admin", op["x-tollgate-access"])
	}
	if codes := responseCodes(op); !codes["200"] || !codes["401"] || !codes["403"] {
		t.Fatalf("responses = %v, want 200, 401 and 403", codes)
	}
}

// TestMetricsPublicByDefault: without metrics.* keys /metrics is public on
// the main listener and documented so.
func TestMetricsPublicByDefault(t *testing.T) {
	base, _, _ := startServe(t, testConfig(t))
	wantMetrics(t, getAs(t, base+"/metrics", ""))
	op := metricsOperation(t, base)
	if op["x-tollgate-access"] != "public" {
		t.Fatalf("x-tollgate-access = %v, want public", op["x-tollgate-access"])
	}
	if codes := responseCodes(op); !codes["200"] || codes["401"] {
		t.Fatalf("responses = %v, want 200 and no 401", codes)
	}
}

// TestMetricsSeparateListener: with metrics.addr, /metrics is served on its
// own listener (plain, public unless metrics.require_auth) which answers
// everything else in the envelope, and the main listener answers /metrics
// 404 not_found (documented so).
func TestMetricsSeparateListener(t *testing.T) {
	t.Run("Public", func(t *testing.T) {
		cfg := testConfigTOML(t, metricsConfig(t, "[metrics]\naddr = \"127.0.0.1:0\"\n"))
		a, base, _, _ := startServeApp(t, cfg)
		mbase := "http://" + a.metricsAddr.String()
		if mbase == base {
			t.Fatal("metrics served on the main listener")
		}
		wantMetrics(t, getAs(t, mbase+"/metrics", ""))
		wantEnvelope(t, getAs(t, mbase+"/healthz", ""), http.StatusNotFound, "not_found_error", "not_found")
		resp, err := http.Post(mbase+"/metrics", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.Header.Get("Allow"), "GET, HEAD"; got != want {
			t.Fatalf("Allow = %q, want %q", got, want)
		}
		wantEnvelope(t, resp, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed")

		wantEnvelope(t, getAs(t, base+"/metrics", ""), http.StatusNotFound, "not_found_error", "not_found")
		wantEnvelope(t, getAs(t, base+"/metrics", metricsAdminToken), http.StatusNotFound, "not_found_error", "not_found")
		op := metricsOperation(t, base)
		if codes := responseCodes(op); codes["200"] || !codes["404"] {
			t.Fatalf("responses = %v, want 404 and no 200", codes)
		}
	})
	t.Run("RequireAuth", func(t *testing.T) {
		cfg := testConfigTOML(t, metricsConfig(t, "[metrics]\naddr = \"127.0.0.1:0\"\nrequire_auth = true\n"))
		a, base, _, _ := startServeApp(t, cfg)
		mbase := "http://" + a.metricsAddr.String()
		resp := getAs(t, mbase+"/metrics", "")
		if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="tollgate"`; got != want {
			t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
		}
		wantEnvelope(t, resp, http.StatusUnauthorized, "authentication_error", "missing_authorization")
		wantMetrics(t, getAs(t, mbase+"/metrics", metricsAdminToken))
		wantEnvelope(t, getAs(t, base+"/metrics", metricsAdminToken), http.StatusNotFound, "not_found_error", "not_found")
	})
}

// TestMetricsAddrInUse: a metrics.addr that cannot be bound stops start-up
// with an error naming the key.
func TestMetricsAddrInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	cfg := testConfig(t, "TOLLGATE_METRICS_ADDR="+addr)
	ctx := context.Background()
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = runServe(ctx, a, nil)
	if want := "listen on " + addr + " (metrics.addr): "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("runServe = %v, want an error starting %q", err, want)
	}
}
