package main

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// accessLines returns the access-log records of logs (JSON lines) as
// "METHOD route status principal principal_id request_id".
func accessLines(t *testing.T, logs string) []string {
	t.Helper()
	var out []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var rec struct {
			Log, Msg, Method, Route, Principal, PrincipalID, RequestID string
			Status                                                     int
			Duration                                                   *float64
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		// encoding/json matches principal_id to PrincipalID only by tag.
		var ids struct {
			PrincipalID string `json:"principal_id"`
			RequestID   string `json:"request_id"`
		}
		_ = json.Unmarshal([]byte(line), &ids)
		if rec.Log != "access" {
			continue
		}
		if rec.Msg != "request" || rec.Duration == nil || ids.RequestID == "" {
			t.Fatalf("access record lacks msg, duration or request_id: %s", line)
		}
		rid := ids.RequestID
		if !strings.HasPrefix(rid, "req-") {
			rid = "generated"
		}
		out = append(out, strings.Join([]string{rec.Method, rec.Route, itoa(rec.Status), rec.Principal, ids.PrincipalID, rid}, " "))
	}
	return out
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestAccessLog: log.access (on by default) writes one record per request
// with method, route pattern, status, duration, principal and request id;
// never a credential; probes (/healthz, /readyz, /metrics) only when they
// fail; log.access = false writes none.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := startAuthEnv(t, testConfig(t), slog.New(slog.NewJSONHandler(logs, nil)), logs, testDeps(nil))
	admin := e.setup()
	k, err := e.client(admin).CreateKey(t.Context(), httpapi.CreateKeyRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	adminID := e.do("GET", "/api/auth/me", admin, nil).body["id"].(string)
	start := len(accessLines(t, logs.String()))
	wantStatus(t, e.do("GET", "/v1/models", k.Key, nil, "X-Request-Id", "req-1"), 200)
	wantStatus(t, e.do("GET", "/api/keys", admin, nil, "X-Request-Id", "req-2"), 200)
	wantStatus(t, e.do("GET", "/api/keys", "tg_wrong", nil, "X-Request-Id", "req-3"), 401)
	wantStatus(t, e.do("GET", "/healthz", "", nil), 200)
	wantStatus(t, e.do("GET", "/readyz", "", nil), 200)
	if got := get(t, e.url+"/metrics"); got != 200 {
		t.Fatalf("metrics = %d", got)
	}
	wantStatus(t, e.do("GET", "/api/nothing/here", "", nil, "X-Request-Id", "req-4"), 404)
	got := accessLines(t, logs.String())[start:]
	want := []string{
		"GET GET /v1/models 200 key " + k.Prefix + " req-1",
		"GET GET /api/keys 200 user " + adminID + " req-2",
		"GET GET /api/keys 401 anonymous  req-3",
		"GET unmatched 404 anonymous  req-4",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("access log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, secret := range []string{k.Key, admin, "tg_wrong"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs contain a credential %q", secret)
		}
	}

	off := &syncBuffer{}
	e2 := startAuthEnv(t, testConfig(t, "TOLLGATE_LOG_ACCESS=false"), slog.New(slog.NewJSONHandler(off, nil)), off, testDeps(nil))
	wantStatus(t, e2.do("GET", "/v1/models", "", nil), 200)
	if got := accessLines(t, off.String()); len(got) != 0 {
		t.Fatalf("log.access = false wrote %q", got)
	}
}
