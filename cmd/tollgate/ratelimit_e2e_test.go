package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
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
	t.Parallel()
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
	t.Parallel()
	base := newTestApp(t)
	api := base + "/api/admin/rate-limits"
	c := client.New(base)

	t.Run("Validation", func(t *testing.T) {
		cases := []struct {
			in          httpapi.PolicyBody
			code, param string
		}{
			{httpapi.PolicyBody{RequestsPerMinute: 10, Burst: 1}, "missing_field", "body.name"},
			{httpapi.PolicyBody{Name: "x", RequestsPerMinute: 0, Burst: 1}, "invalid_field", "body.requests_per_minute"},
		}
		for _, tc := range cases {
			_, err := c.CreatePolicy(t.Context(), tc.in)
			wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: tc.code, Param: tc.param, Status: 400})
		}
		// An unknown field is something the typed client cannot send.
		r := call(t, "POST", api+"/policies", `{"name":"x","requests_per_minute":10,"burst":1,"extra":1}`)
		if typ, code, param := errCode(r); r.status != 400 || typ != "invalid_request_error" || code != "invalid_field" || param != "body.extra" {
			t.Errorf("POST with an extra field = %d %s/%s param %v, want 400 invalid_field body.extra", r.status, typ, code, param)
		}
		_, err := c.CreateAssignment(t.Context(), httpapi.AssignmentBody{PolicyID: "nope", SubjectType: "role", Subject: "admin"})
		wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.policy_id", Message: "no such policy", Status: 400})
		wantAPIError(t, c.DeletePolicy(t.Context(), "nope"), gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Status: 404})
	})

	t.Run("ChangeAppliesWithoutRestart", func(t *testing.T) {
		pol, err := c.CreatePolicy(t.Context(), httpapi.PolicyBody{Name: "tight", RequestsPerMinute: 60, Burst: 3})
		if err != nil || pol.Name != "tight" || pol.ID == "" {
			t.Fatalf("create policy = %+v, %v", pol, err)
		}
		_, err = c.CreatePolicy(t.Context(), httpapi.PolicyBody{Name: "tight", RequestsPerMinute: 60, Burst: 2})
		wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.name", Status: 400})
		// A route assignment: an extra bucket per (route, subject) for chat
		// only, so the admin API itself stays under the default policy.
		asg, err := c.CreateAssignment(t.Context(), httpapi.AssignmentBody{PolicyID: pol.ID, SubjectType: "route", Subject: "POST /v1/chat/completions"})
		if err != nil || asg.SubjectType != "route" || asg.Subject != "POST /v1/chat/completions" || asg.PolicyID != pol.ID {
			t.Fatalf("create assignment = %+v, %v", asg, err)
		}
		list, err := c.ListAssignments(t.Context())
		if err != nil || len(list.Data) != 1 || list.Data[0].ID != asg.ID || list.NextCursor != nil {
			t.Fatalf("list assignments = %+v, %v", list, err)
		}
		// Chat stays raw: the rate-limit headers are the point.
		var statuses []int
		var r apiResult
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
		if err := c.DeleteAssignment(t.Context(), asg.ID); err != nil {
			t.Fatalf("delete assignment: %v", err)
		}
		r = call(t, "POST", base+"/v1/chat/completions", chatBody)
		if r.status != 200 || r.header.Get("RateLimit-Policy") != `"default";q=100;w=10` {
			t.Fatalf("after deleting the assignment: %d %q, want 200 under default", r.status, r.header.Get("RateLimit-Policy"))
		}
	})
}

func TestTwoInstancesShareRedisLimit(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
