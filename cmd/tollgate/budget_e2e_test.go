package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// budgetEnv is one instance (or two on one database) in open mode,
// serving model "m" from up, with rate limits out of the way.
func budgetEnv(t *testing.T, upURL string, two bool, environ ...string) []*authEnv {
	t.Helper()
	environ = append([]string{"TOLLGATE_RATE_LIMIT_DEFAULT_REQUESTS_PER_MINUTE=1000000", "TOLLGATE_RATE_LIMIT_DEFAULT_BURST=100000",
		"TOLLGATE_USAGE_FLUSH_INTERVAL=10ms"}, environ...)
	cfg := testConfigTOML(t, upstreamConfig(t, upURL), environ...)
	a := startAuthEnv(t, cfg, slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	if two {
		return []*authEnv{a, a.second()}
	}
	return []*authEnv{a}
}

// sendReq sends body to path with optional bearer token and returns the
// status, headers and body.
func sendReq(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func createBudget(t *testing.T, base, token, body string) string {
	t.Helper()
	status, _, out := sendReq(t, "POST", base+"/api/admin/budgets", token, body)
	if status != 201 {
		t.Fatalf("create budget = %d %s", status, out)
	}
	var b struct{ ID string }
	_ = json.Unmarshal([]byte(out), &b)
	return b.ID
}

// TestBudgetParallelExactlyTen: 200 parallel requests against a budget
// that fits exactly 10 worst cases admit 10 (each uses its worst case, so
// settlement frees nothing), on one instance and split over two sharing
// PostgreSQL; the refused ones never reach the upstream.
func TestBudgetParallelExactlyTen(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`
	prompt := int64(len(body)+3) / 4
	worst := prompt + 4
	for _, tc := range []struct {
		name string
		two  bool
		env  func(t *testing.T) []string
	}{
		{"SQLiteOneInstance", false, func(*testing.T) []string { return nil }},
		{"PostgresTwoInstances", true, func(t *testing.T) []string { return []string{"TOLLGATE_DATABASE_URL=" + sqltest.PostgresURL(t)} }},
		// With redis.url the counters and slots live in Redis (one script
		// per admission); the database keeps the settled totals.
		{"RedisOneInstance", false, redisEnv},
		{"RedisTwoInstances", true, func(t *testing.T) []string {
			return append(redisEnv(t), "TOLLGATE_DATABASE_URL="+sqltest.PostgresURL(t))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := llmtest.NewT(t, llmtest.Reply{PromptTokens: prompt, Words: []string{"a", "b", "c", "d"}})
			envs := budgetEnv(t, up.URL, tc.two, tc.env(t)...)
			createBudget(t, envs[0].url, "", fmt.Sprintf(`{"subject_type":"user","subject":"local","period":"total","max_tokens":%d}`, 10*worst))
			if tc.two {
				// The second instance loads budgets on its next sync.
				if err := envs[1].app.budgets.Reload(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			counts := map[string]int{}
			var wg sync.WaitGroup
			for i := range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, _, out := sendReq(t, "POST", envs[i%len(envs)].url+"/v1/chat/completions", "", body)
					key := strconv.Itoa(status)
					if status == 429 && strings.Contains(out, `"quota_exceeded"`) {
						key = "quota_exceeded"
					}
					mu.Lock()
					counts[key]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if counts["200"] != 10 || counts["quota_exceeded"] != 190 {
				t.Fatalf("outcomes = %v, want 10 × 200 and 190 × quota_exceeded", counts)
			}
			if got := up.Count(); got != 10 {
				t.Fatalf("upstream requests = %d, want 10", got)
			}
			if strings.HasPrefix(tc.name, "Redis") {
				noBudgetFallbacks(t, envs...)
			}
		})
	}
}

// noBudgetFallbacks fails t when an instance admitted on the database
// because its Redis script call failed: the Redis cases must prove that
// the script path decided, not the per-instance fallback.
func noBudgetFallbacks(t *testing.T, envs ...*authEnv) {
	t.Helper()
	for i, e := range envs {
		if e.app.budgets.SharedFallbacks() != 0 {
			t.Fatalf("instance %d: %d admissions fell back to the database", i, e.app.budgets.SharedFallbacks())
		}
	}
}

// redisEnv points an instance at the test Redis under a prefix of its own.
func redisEnv(t *testing.T) []string {
	return []string{"TOLLGATE_REDIS_URL=" + testsvc.RedisURL(t), "TOLLGATE_REDIS_KEY_PREFIX=" + testsvc.UniqueName("tgb") + ":"}
}

// TestBudgetCrossedMidStream: an upstream that ignores max_tokens streams
// past the budget; the stream finishes, its real use is charged, and the
// next request gets 429 quota_exceeded with Retry-After = seconds to
// midnight UTC (injected clock), until the day rolls over. GET
// /api/limits shows what /api/usage records.
func TestBudgetCrossedMidStream(t *testing.T) {
	t.Parallel()
	words := strings.Fields(strings.Repeat("w ", 29) + "ten")
	up := llmtest.NewT(t, llmtest.Reply{PromptTokens: 7, Words: words})
	e := budgetEnv(t, up.URL, false)[0]
	now := time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	e.app.budgets.SetNow(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	body := `{"model":"m","max_tokens":1,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	worst := int64(len(body)+3)/4 + 1
	id := createBudget(t, e.url, "", fmt.Sprintf(`{"subject_type":"user","subject":"local","period":"day","max_tokens":%d}`, worst+2))

	status, _, out := sendReq(t, "POST", e.url+"/v1/chat/completions", "", body)
	if status != 200 || !strings.Contains(out, "ten") || !strings.HasSuffix(strings.TrimSpace(out), "data: [DONE]") {
		t.Fatalf("stream = %d, want the whole stream:\n%s", status, out)
	}
	status, hdr, out := sendReq(t, "POST", e.url+"/v1/chat/completions", "", body)
	if status != 429 || !strings.Contains(out, `"quota_exceeded"`) || !strings.Contains(out, id) || hdr.Get("Retry-After") != "3600" {
		t.Fatalf("next request = %d Retry-After %q %s; want 429 quota_exceeded naming %s, Retry-After 3600", status, hdr.Get("Retry-After"), out, id)
	}
	if up.Count() != 1 {
		t.Fatalf("upstream requests = %d, want 1", up.Count())
	}

	// /api/limits agrees with the usage records.
	var usage struct {
		Data []struct {
			Requests         int   `json:"requests"`
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"data"`
	}
	for i := 0; i < 200; i++ {
		_, _, out := sendReq(t, "GET", e.url+"/api/usage", "", "")
		_ = json.Unmarshal([]byte(out), &usage)
		if len(usage.Data) == 1 && usage.Data[0].Requests == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(usage.Data) != 1 {
		t.Fatalf("usage = %+v", usage)
	}
	used := usage.Data[0].PromptTokens + usage.Data[0].CompletionTokens
	if used != 37 {
		t.Fatalf("usage tokens = %d, want 7 + 30", used)
	}
	_, _, out = sendReq(t, "GET", e.url+"/api/limits", "", "")
	var limits struct {
		RateLimit *struct{ Limit int } `json:"rate_limit"`
		Budgets   []struct {
			ID        string
			Spent     struct{ Tokens int64 }
			Reserved  struct{ Tokens int64 }
			Remaining struct{ Tokens *int64 }
			ResetsAt  time.Time `json:"resets_at"`
		} `json:"budgets"`
	}
	if err := json.Unmarshal([]byte(out), &limits); err != nil {
		t.Fatal(err)
	}
	if len(limits.Budgets) != 1 || limits.RateLimit == nil || limits.RateLimit.Limit != 100000 {
		t.Fatalf("limits = %s", out)
	}
	b := limits.Budgets[0]
	if b.ID != id || b.Spent.Tokens != used || b.Reserved.Tokens != 0 || b.Remaining.Tokens == nil || *b.Remaining.Tokens != 0 ||
		!b.ResetsAt.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("budget status = %+v (%s)", b, out)
	}

	mu.Lock()
	now = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	mu.Unlock()
	if status, _, out := sendReq(t, "POST", e.url+"/v1/chat/completions", "", body); status != 200 {
		t.Fatalf("after midnight = %d %s, want 200", status, out)
	}
}

// TestMaxParallelStreams: with max_parallel 2 the third concurrent stream
// gets 429 rate_limit_exceeded (Retry-After 1) until one ends.
func TestMaxParallelStreams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		two  bool
		env  func(t *testing.T) []string
	}{
		{"OneInstance", false, func(*testing.T) []string { return nil }},
		// With Redis the slots are shared: the third stream is refused by
		// the other instance too.
		{"RedisTwoInstances", true, func(t *testing.T) []string {
			return append(redisEnv(t), "TOLLGATE_DATABASE_URL="+sqltest.PostgresURL(t))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testMaxParallelStreams(t, tc.two, tc.env(t))
		})
	}
}

func testMaxParallelStreams(t *testing.T, two bool, env []string) {
	step := make(chan struct{})
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"a", "b"}, Step: step})
	e := budgetEnv(t, up.URL, false, env...)[0]
	other := e
	tok := e.setup()
	var me struct{ ID string }
	_, _, out := sendReq(t, "GET", e.url+"/api/auth/me", tok, "")
	_ = json.Unmarshal([]byte(out), &me)
	if status, _, out := sendReq(t, "PATCH", e.url+"/api/admin/users/"+me.ID, tok, `{"max_parallel":2}`); status != 200 {
		t.Fatalf("PATCH = %d %s", status, out)
	}
	if two {
		// The second instance starts after setup: one started before it
		// stays in auto mode's open state (it does not re-count users per
		// request) and answers every request as the local principal,
		// which has no max_parallel — that, not Redis, is why the third
		// stream used to be admitted there.
		other = e.second()
		// A key with max_parallel 2 of its own: both the key's and the
		// user's slot are shared through Redis.
		status, _, out := sendReq(t, "POST", e.url+"/api/keys", tok, `{"name":"k","max_parallel":2}`)
		var key struct{ Key string }
		if err := json.Unmarshal([]byte(out), &key); status != 201 || err != nil || key.Key == "" {
			t.Fatalf("create key = %d %s", status, out)
		}
		tok = key.Key
	}
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	open := func(base string) *http.Response {
		req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r1, r2 := open(e.url), open(e.url) // both got their first event and wait on step
	if r1.StatusCode != 200 || r2.StatusCode != 200 {
		t.Fatalf("first two = %d, %d", r1.StatusCode, r2.StatusCode)
	}
	status, hdr, out := sendReq(t, "POST", other.url+"/v1/chat/completions", tok, body)
	if status != 429 || !strings.Contains(out, `"rate_limit_exceeded"`) || hdr.Get("Retry-After") != "1" {
		t.Fatalf("third = %d Retry-After %q %s", status, hdr.Get("Retry-After"), out)
	}
	if two {
		noBudgetFallbacks(t, e, other)
	}
	// End r1: its client leaves, which ends the stream (and the upstream
	// request).
	r1.Body.Close()
	// The slot is released when the handler returns; retry the admission
	// until it is (bounded), without a timed assertion.
	var got int
	for i := 0; i < 1000 && got != 200; i++ {
		r3 := open(other.url)
		got = r3.StatusCode
		r3.Body.Close()
		if got != 200 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if got != 200 {
		t.Fatalf("after one stream ended = %d, want 200", got)
	}
	close(step)
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
}

// TestBudgetParallelConversationPosts: the same bound through conversation
// posts: 200 parallel posts against a budget of exactly 10 worst cases
// admit 10; the refused ones answer 429 quota_exceeded and never reach
// the upstream.
func TestBudgetParallelConversationPosts(t *testing.T) {
	t.Parallel()
	// A post of "hi" reserves (64 + len(`"hi"`) + 32 + 3) / 4 = 25 prompt
	// tokens plus max_output_tokens (4); the upstream uses exactly that.
	up := llmtest.NewT(t, llmtest.Reply{PromptTokens: 25, Words: []string{"a", "b", "c", "d"}})
	environ := []string{"TOLLGATE_RATE_LIMIT_DEFAULT_REQUESTS_PER_MINUTE=1000000", "TOLLGATE_RATE_LIMIT_DEFAULT_BURST=100000"}
	cfg := testConfigTOML(t, upstreamConfig(t, up.URL)+"max_output_tokens = 4\n", environ...)
	e := startAuthEnv(t, cfg, slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	createBudget(t, e.url, "", `{"subject_type":"user","subject":"local","period":"month","max_tokens":290}`)
	convs := make([]string, 200)
	for i := range convs {
		status, _, out := sendReq(t, "POST", e.url+"/api/conversations", "", `{"model":"m"}`)
		var c struct{ ID string }
		if err := json.Unmarshal([]byte(out), &c); status != 201 || err != nil {
			t.Fatalf("create conversation = %d %s", status, out)
		}
		convs[i] = c.ID
	}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for _, id := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, out := sendReq(t, "POST", e.url+"/api/conversations/"+id+"/messages", "", `{"content":"hi"}`)
			key := strconv.Itoa(status)
			if status == 429 && strings.Contains(out, `"quota_exceeded"`) {
				key = "quota_exceeded"
			}
			mu.Lock()
			counts[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts["201"]+counts["200"] != 10 || counts["quota_exceeded"] != 190 {
		t.Fatalf("outcomes = %v, want 10 admitted and 190 × quota_exceeded", counts)
	}
	if got := up.Count(); got != 10 {
		t.Fatalf("upstream requests = %d, want 10", got)
	}
}

// TestBudgetAPI: the admin CRUD routes, a key owner's own key budget
// (PUT replaces, DELETE removes, another user's key is 404), and GET
// /api/limits with the key itself.
func TestBudgetAPI(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"ok"}})
	e := budgetEnv(t, up.URL, false)[0]
	admin := e.setup()
	if status, _, out := sendReq(t, "POST", e.url+"/api/admin/users", admin,
		`{"email":"bob@example.com","password":"`+adminPassword+`","role":"contributor"}`); status != 201 {
		t.Fatalf("create user = %d %s", status, out)
	}
	bob := e.login("bob@example.com", adminPassword)
	_, _, out := sendReq(t, "POST", e.url+"/api/keys", bob, `{"name":"k","max_parallel":3,"allowed_models":["m"]}`)
	var key struct{ ID, Key string }
	_ = json.Unmarshal([]byte(out), &key)

	status, _, out := sendReq(t, "PUT", e.url+"/api/keys/"+key.ID+"/budget", bob, `{"period":"day","max_cost":"1.00","alert_percent":80}`)
	if status != 200 || !strings.Contains(out, `"max_cost":"1.000000"`) || !strings.Contains(out, `"subject":"`+key.ID+`"`) || !strings.Contains(out, `"max_tokens":null`) {
		t.Fatalf("PUT key budget = %d %s", status, out)
	}
	status, _, out = sendReq(t, "PUT", e.url+"/api/keys/"+key.ID+"/budget", bob, `{"period":"week","max_tokens":500}`)
	if status != 200 || !strings.Contains(out, `"period":"week"`) {
		t.Fatalf("second PUT = %d %s", status, out)
	}
	_, _, out = sendReq(t, "GET", e.url+"/api/admin/budgets", admin, "")
	var list struct{ Data []struct{ ID, Period string } }
	_ = json.Unmarshal([]byte(out), &list)
	if len(list.Data) != 1 || list.Data[0].Period != "week" {
		t.Fatalf("budgets after PUT twice = %s, want only the weekly one", out)
	}
	if status, _, _ := sendReq(t, "PUT", e.url+"/api/keys/"+key.ID+"/budget", admin, `{"period":"day","max_tokens":1}`); status != 404 {
		t.Fatalf("PUT on another user's key = %d, want 404", status)
	}
	if status, _, out := sendReq(t, "PUT", e.url+"/api/keys/"+key.ID+"/budget", bob, `{"period":"day"}`); status != 400 || !strings.Contains(out, `"body.max_tokens"`) {
		t.Fatalf("PUT without a cap = %d %s", status, out)
	}

	// The key sees its budget, models and max_parallel in /api/limits.
	status, _, out = sendReq(t, "GET", e.url+"/api/limits", key.Key, "")
	if status != 200 || !strings.Contains(out, `"allowed_models":{"key":["m"],"user":null}`) || !strings.Contains(out, `"max_parallel":{"key":3,"user":null}`) ||
		!strings.Contains(out, `"remaining":{"tokens":500,"cost":null}`) || !strings.Contains(out, list.Data[0].ID) {
		t.Fatalf("limits = %d %s", status, out)
	}
	if status, _, _ := sendReq(t, "DELETE", e.url+"/api/keys/"+key.ID+"/budget", bob, ""); status != 204 {
		t.Fatalf("DELETE key budget = %d", status)
	}
	if status, _, _ := sendReq(t, "DELETE", e.url+"/api/keys/"+key.ID+"/budget", bob, ""); status != 404 {
		t.Fatalf("second DELETE = %d, want 404", status)
	}

	// Admin CRUD.
	id := createBudget(t, e.url, admin, `{"subject_type":"role","subject":"contributor","period":"month","max_tokens":10}`)
	if status, _, out := sendReq(t, "POST", e.url+"/api/admin/budgets", admin, `{"subject_type":"role","subject":"contributor","period":"month","max_tokens":5}`); status != 400 || !strings.Contains(out, `"body.period"`) {
		t.Fatalf("duplicate = %d %s", status, out)
	}
	if status, _, out := sendReq(t, "PUT", e.url+"/api/admin/budgets/"+id, admin, `{"subject_type":"role","subject":"contributor","period":"month","max_cost":2.5}`); status != 200 || !strings.Contains(out, `"max_cost":"2.500000"`) {
		t.Fatalf("PUT = %d %s", status, out)
	}
	if status, _, _ := sendReq(t, "DELETE", e.url+"/api/admin/budgets/"+id, admin, ""); status != 204 {
		t.Fatalf("DELETE = %d", status)
	}
	if status, _, _ := sendReq(t, "PUT", e.url+"/api/admin/budgets/"+id, admin, `{"subject_type":"role","subject":"contributor","period":"month","max_cost":2.5}`); status != 404 {
		t.Fatalf("PUT deleted = %d, want 404", status)
	}
}

// TestEndUserBudgetsThroughV1: each end user of an app credential has its
// own budget; the key's budget caps all of them together.
func TestEndUserBudgetsThroughV1(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`
	prompt := int64(len(body)+3) / 4
	w := prompt + 4 // every request uses exactly its worst case
	up := llmtest.NewT(t, llmtest.Reply{PromptTokens: prompt, Words: []string{"a", "b", "c", "d"}})
	e := budgetEnv(t, up.URL, false)[0]
	admin := e.setup()
	_, _, out := sendReq(t, "POST", e.url+"/api/keys", admin, `{"name":"app","end_user_mode":true}`)
	var key struct{ ID, Key string }
	_ = json.Unmarshal([]byte(out), &key)
	createBudget(t, e.url, admin, fmt.Sprintf(`{"subject_type":"end_user","subject":"%s:alice","period":"day","max_tokens":%d}`, key.ID, 2*w))
	createBudget(t, e.url, admin, fmt.Sprintf(`{"subject_type":"end_user","subject":"%s:bob","period":"day","max_tokens":%d}`, key.ID, 2*w))
	keyBudget := createBudget(t, e.url, admin, fmt.Sprintf(`{"subject_type":"key","subject":"%s","period":"day","max_tokens":%d}`, key.ID, 3*w))
	chat := func(endUser string) (int, string) {
		req, _ := http.NewRequest("POST", e.url+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key.Key)
		req.Header.Set("X-End-User-Id", endUser)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i, step := range []struct {
		endUser string
		status  int
		names   string // the refusing budget
	}{
		{"alice", 200, ""}, {"alice", 200, ""},
		{"alice", 429, key.ID + ":alice"}, // alice's own budget is full
		{"bob", 200, ""},                  // bob is independent of alice
		{"bob", 429, keyBudget},           // the key's budget (3 requests) is full
		{"carol", 429, keyBudget},
	} {
		status, out := chat(step.endUser)
		if status != step.status || (step.names != "" && (!strings.Contains(out, `"quota_exceeded"`) || !strings.Contains(out, step.names))) {
			t.Fatalf("step %d (%s) = %d %s; want %d naming %q", i, step.endUser, status, out, step.status, step.names)
		}
	}
}

// TestRateLimitDeferredToAdmission: with rate limits and budgets both in
// Redis, a budgeted request's rate-limit decision is made by its
// admission's script call (one round trip, internal/redis
// TestAdmissionOneRoundTrip); over HTTP it answers exactly as before: the
// RateLimit headers on the answer, 429 rate_limit_exceeded at the limit,
// and a request refused before admission (a body that does not parse) is
// still counted.
func TestRateLimitDeferredToAdmission(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"a"}})
	environ := append([]string{"TOLLGATE_RATE_LIMIT_BACKEND=redis", "TOLLGATE_RATE_LIMIT_DEFAULT_REQUESTS_PER_MINUTE=4",
		"TOLLGATE_RATE_LIMIT_DEFAULT_BURST=4", "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms"}, redisEnv(t)...)
	a := startAuthEnv(t, testConfigTOML(t, upstreamConfig(t, up.URL), environ...), slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	// The budget's creation is the first of the four requests the limit allows.
	createBudget(t, a.url, "", `{"subject_type":"user","subject":"local","period":"total","max_tokens":1000000}`)
	body := `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`
	status, h, out := sendReq(t, "POST", a.url+"/v1/chat/completions", "", body)
	if status != 200 || h.Get("RateLimit-Policy") == "" || h.Get("RateLimit") == "" {
		t.Fatalf("first = %d %s, headers %v; want 200 with RateLimit headers", status, out, h)
	}
	if status, _, out := sendReq(t, "POST", a.url+"/v1/chat/completions", "", `{"model":`); status != 400 {
		t.Fatalf("bad body = %d %s, want 400", status, out)
	}
	if status, _, out := sendReq(t, "POST", a.url+"/v1/chat/completions", "", body); status != 200 {
		t.Fatalf("third = %d %s, want 200", status, out)
	}
	status, h, out = sendReq(t, "POST", a.url+"/v1/chat/completions", "", body)
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal([]byte(out), &e)
	if status != 429 || e.Error.Code != "rate_limit_exceeded" || h.Get("Retry-After") == "" || h.Get("RateLimit") == "" {
		t.Fatalf("fourth = %d %s, headers %v; want 429 rate_limit_exceeded with Retry-After and RateLimit", status, out, h)
	}
	if got := up.Count(); got != 2 {
		t.Fatalf("upstream requests = %d, want 2", got)
	}
	noBudgetFallbacks(t, a)
}
