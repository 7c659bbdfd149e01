package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// TestWebUIFallback: GET and HEAD requests that no route matches go to
// the web UI, except under /api and /v1 and the probes, which keep the
// JSON 404 and 405 of the envelope; routes are never shadowed.
func TestWebUIFallback(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(299)
	})
	srv := httptest.NewServer(httpapi.New(httpapi.Options{WebUI: ui}).Handler())
	defer srv.Close()
	cases := []struct {
		method, path string
		status       int
		code         string // error code of a JSON answer; "" for the UI
	}{
		{"GET", "/", 299, ""},
		{"HEAD", "/", 299, ""},
		{"GET", "/c/conv_1", 299, ""},
		{"GET", "/share/abc", 299, ""},
		{"GET", "/assets/js/app.js", 299, ""},
		{"GET", "/apis", 299, ""},
		{"GET", "/api", 404, "not_found"},
		{"GET", "/api/nope", 404, "not_found"},
		{"GET", "/v1", 404, "not_found"},
		{"GET", "/v1/nope", 404, "not_found"},
		{"POST", "/", 404, "not_found"},
		{"DELETE", "/account", 404, "not_found"},
		{"GET", "/healthz", 200, ""},
		{"POST", "/healthz", 405, "method_not_allowed"},
		{"GET", "/openapi.json", 200, ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		if c.method != "HEAD" {
			_ = json.NewDecoder(resp.Body).Decode(&env)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || env.Error.Code != c.code {
			t.Errorf("%s %s = %d %q, want %d %q", c.method, c.path, resp.StatusCode, env.Error.Code, c.status, c.code)
		}
		if c.code != "" && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s Content-Type = %q", c.method, c.path, resp.Header.Get("Content-Type"))
		}
	}
}
