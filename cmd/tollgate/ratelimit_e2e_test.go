package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

type apiResult struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, method, url, body string) apiResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &res.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %s", method, url, raw)
		}
	}
	return res
}

func errCode(r apiResult) (typ, code string, param any) {
	e, _ := r.body["error"].(map[string]any)
	typ, _ = e["type"].(string)
	code, _ = e["code"].(string)
	return typ, code, e["param"]
}

func newTestApp(t *testing.T, environ ...string) string {
	t.Helper()
	cfg := testConfig(t, environ...)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(sqltest.SQLite(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(context.Background()) })
	return newHTTPTest(t, a)
}

const chatBody = `{"model":"echo","messages":[{"role":"user","content":"one two three"}]}`

func TestRateLimitThroughTheRouter(t *testing.T) {
	base := newTestApp(t, "TOLLGATE_RATE_LIMIT_DEFAULT_REQUESTS_PER_MINUTE=60", "TOLLGATE_RATE_LIMIT_DEFAULT_BURST=3")

	t.Run("HeadersOnSuccess", func(t *testing.T) {
		r := call(t, "GET", base+"/v1/models", "")
		if r.status != 200 {
			t.Fatalf("status = %d", r.status)
		}
		for h, want := range map[string]string{
			"RateLimit-Policy":      `"default";q=3;w=3`,
			"RateLimit":             `"default";r=2;t=1`,
			"X-RateLimit-Limit":     "3",
			"X-RateLimit-Remaining": "2",
			"X-RateLimit-Reset":     "1",
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
	})
	t.Run("RefusedWith429", func(t *testing.T) {
		call(t, "GET", base+"/v1/models", "")
		call(t, "GET", base+"/v1/models", "")
		r := call(t, "GET", base+"/v1/models", "")
		if r.status != 429 {
			t.Fatalf("status = %d, want 429", r.status)
		}
		if typ, code, _ := errCode(r); typ != "rate_limit_error" || code != "rate_limit_exceeded" {
			t.Fatalf("error = %s/%s", typ, code)
		}
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Fatalf("Retry-After = %q, want 1", got)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q, want no-store", got)
		}
		if got := r.header.Get("X-RateLimit-Remaining"); got != "0" {
			t.Fatalf("X-RateLimit-Remaining = %q, want 0", got)
		}
	})
	t.Run("PublicRoutesAreNotLimited", func(t *testing.T) {
		r := call(t, "GET", base+"/healthz", "")
		if r.status != 200 || r.header.Get("RateLimit") != "" {
			t.Fatalf("healthz = %d with RateLimit %q", r.status, r.header.Get("RateLimit"))
		}
	})
}

func TestRateLimitAdminAPI(t *testing.T) {
	base := newTestApp(t)
	api := base + "/api/admin/rate-limits"

	t.Run("Validation", func(t *testing.T) {
		cases := []struct {
			body, code, param string
		}{
			{`{"requests_per_minute":10,"burst":1}`, "missing_field", "body.name"},
			{`{"name":"x","requests_per_minute":0,"burst":1}`, "invalid_field", "body.requests_per_minute"},
			{`{"name":"x","requests_per_minute":10,"burst":1,"extra":1}`, "invalid_field", "body.extra"},
		}
		for _, tc := range cases {
			r := call(t, "POST", api+"/policies", tc.body)
			if typ, code, param := errCode(r); r.status != 400 || typ != "invalid_request_error" || code != tc.code || param != tc.param {
				t.Errorf("POST %s = %d %s/%s param %v, want 400 %s %s", tc.body, r.status, typ, code, param, tc.code, tc.param)
			}
		}
		r := call(t, "POST", api+"/assignments", `{"policy_id":"nope","subject_type":"role","subject":"admin"}`)
		if _, code, param := errCode(r); r.status != 400 || code != "invalid_field" || param != "body.policy_id" {
			t.Fatalf("assignment to unknown policy = %d %s %v", r.status, code, param)
		}
		r = call(t, "DELETE", api+"/policies/nope", "")
		if _, code, _ := errCode(r); r.status != 404 || code != "not_found" {
			t.Fatalf("delete unknown policy = %d %s", r.status, code)
		}
	})

	t.Run("ChangeAppliesWithoutRestart", func(t *testing.T) {
		r := call(t, "POST", api+"/policies", `{"name":"tight","requests_per_minute":60,"burst":3}`)
		if r.status != 201 || r.body["name"] != "tight" || r.body["id"] == "" {
			t.Fatalf("create policy = %d %v", r.status, r.body)
		}
		id := r.body["id"].(string)
		r = call(t, "POST", api+"/policies", `{"name":"tight","requests_per_minute":60,"burst":2}`)
		if _, code, param := errCode(r); r.status != 400 || code != "invalid_field" || param != "body.name" {
			t.Fatalf("duplicate policy = %d %s %v", r.status, code, param)
		}
		// A route assignment: an extra bucket per (route, subject) for chat
		// only, so the admin API itself stays under the default policy.
		r = call(t, "POST", api+"/assignments", `{"policy_id":"`+id+`","subject_type":"route","subject":"POST /v1/chat/completions"}`)
		if r.status != 201 || r.body["subject_type"] != "route" || r.body["subject"] != "POST /v1/chat/completions" {
			t.Fatalf("create assignment = %d %v", r.status, r.body)
		}
		asg := r.body["id"].(string)
		list := call(t, "GET", api+"/assignments", "")
		if data, _ := list.body["data"].([]any); list.status != 200 || len(data) != 1 || list.body["next_cursor"] != nil {
			t.Fatalf("list assignments = %d %v", list.status, list.body)
		}
		var statuses []int
		for i := 0; i < 4; i++ {
			r = call(t, "POST", base+"/v1/chat/completions", chatBody)
			statuses = append(statuses, r.status)
		}
		if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 200 || statuses[3] != 429 {
			t.Fatalf("statuses under the new policy = %v, want [200 200 200 429]", statuses)
		}
		if got := r.header.Get("RateLimit-Policy"); !strings.Contains(got, `"tight";q=3`) {
			t.Fatalf("RateLimit-Policy = %q, want the tight policy", got)
		}
		if r := call(t, "DELETE", api+"/assignments/"+asg, ""); r.status != 204 {
			t.Fatalf("delete assignment = %d", r.status)
		}
		r = call(t, "POST", base+"/v1/chat/completions", chatBody)
		if r.status != 200 || r.header.Get("RateLimit-Policy") != `"default";q=100;w=10` {
			t.Fatalf("after deleting the assignment: %d %q, want 200 under default", r.status, r.header.Get("RateLimit-Policy"))
		}
	})
}

func TestTwoInstancesShareRedisLimit(t *testing.T) {
	redisURL := testsvc.RedisURL(t)
	prefix := testsvc.UniqueName("tgtest:") + ":"
	env := []string{
		"TOLLGATE_RATE_LIMIT_BACKEND=redis",
		"TOLLGATE_REDIS_URL=" + redisURL,
		"TOLLGATE_REDIS_KEY_PREFIX=" + prefix,
		// One request a minute after a burst of 5: nothing refills during the test.
		"TOLLGATE_RATE_LIMIT_DEFAULT_REQUESTS_PER_MINUTE=1",
		"TOLLGATE_RATE_LIMIT_DEFAULT_BURST=5",
	}
	a, b := newTestApp(t, env...), newTestApp(t, env...)
	admitted := 0
	for i := 0; i < 12; i++ {
		base := a
		if i%2 == 1 {
			base = b
		}
		r := call(t, "GET", base+"/v1/models", "")
		switch r.status {
		case 200:
			admitted++
		case 429:
		default:
			t.Fatalf("status = %d", r.status)
		}
	}
	if admitted != 5 {
		t.Fatalf("two instances admitted %d requests together, want the shared burst of 5", admitted)
	}
	if r := call(t, "GET", a+"/readyz", ""); r.status != 200 {
		t.Fatalf("readyz with Redis = %d, want 200", r.status)
	}
}

func TestRedisDownFallsBackToLocalLimits(t *testing.T) {
	// Nothing listens on port 1: every Redis call fails at once.
	base := newTestApp(t,
		"TOLLGATE_RATE_LIMIT_BACKEND=redis",
		"TOLLGATE_REDIS_URL=redis://127.0.0.1:1/0",
		"TOLLGATE_RATE_LIMIT_DEFAULT_REQUESTS_PER_MINUTE=1",
		"TOLLGATE_RATE_LIMIT_DEFAULT_BURST=2",
	)
	var statuses []int
	for i := 0; i < 3; i++ {
		statuses = append(statuses, call(t, "GET", base+"/v1/models", "").status)
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Fatalf("statuses with Redis down = %v, want [200 200 429] from local buckets", statuses)
	}
	r := call(t, "GET", base+"/readyz", "")
	if typ, code, _ := errCode(r); r.status != 503 || typ != "unavailable_error" || code != "not_ready" {
		t.Fatalf("readyz with Redis down = %d %s/%s, want 503 not_ready", r.status, typ, code)
	}
}
