package main

import (
	"testing"
)

// TestTokenBudgetsChargedAfterCompletions: a completion's tokens (prompt
// plus completion; the echo model's "one two three" uses 3 + 3) are
// charged to the token budgets of whoever asked, after the answer; a
// budget of 10 admits two such completions (the second into debt) and
// refuses the third with quota_exceeded.
func TestTokenBudgetsChargedAfterCompletions(t *testing.T) {
	statuses := func(t *testing.T, n int, do func() apiResult) ([]int, apiResult) {
		t.Helper()
		var out []int
		var last apiResult
		for range n {
			last = do()
			out = append(out, last.status)
		}
		return out, last
	}
	want := func(t *testing.T, got []int, last apiResult) {
		t.Helper()
		if len(got) != 3 || got[0]/100 != 2 || got[1]/100 != 2 || got[2] != 429 {
			t.Fatalf("statuses = %v, want two successes then 429", got)
		}
		if _, code, _ := errCode(last); code != "quota_exceeded" {
			t.Fatalf("refusal code = %q, want quota_exceeded", code)
		}
	}
	t.Run("SubjectBudgetOnChat", func(t *testing.T) {
		base := newTestApp(t, "TOLLGATE_RATE_LIMIT_DEFAULT_TOKENS_PER_MINUTE=10")
		got, last := statuses(t, 3, func() apiResult { return call(t, "POST", base+"/v1/chat/completions", chatBody) })
		want(t, got, last)
	})
	t.Run("SubjectBudgetOnConversationPost", func(t *testing.T) {
		base := newTestApp(t, "TOLLGATE_RATE_LIMIT_DEFAULT_TOKENS_PER_MINUTE=10")
		c := call(t, "POST", base+"/api/conversations", `{"title":"budget"}`)
		id, _ := c.body["id"].(string)
		if c.status != 201 || id == "" {
			t.Fatalf("create conversation = %d %v", c.status, c.body)
		}
		got, last := statuses(t, 3, func() apiResult {
			return call(t, "POST", base+"/api/conversations/"+id+"/messages", `{"content":"one two three"}`)
		})
		want(t, got, last)
	})
	// routeBudget assigns a policy with a budget of 10 tokens to route.
	routeBudget := func(t *testing.T, base, route string) {
		t.Helper()
		api := base + "/api/admin/rate-limits"
		r := call(t, "POST", api+"/policies", `{"name":"budget","requests_per_minute":600,"burst":100,"tokens_per_minute":10}`)
		id, _ := r.body["id"].(string)
		if r.status != 201 || id == "" {
			t.Fatalf("create policy = %d %v", r.status, r.body)
		}
		if r := call(t, "POST", api+"/assignments", `{"policy_id":"`+id+`","subject_type":"route","subject":"`+route+`"}`); r.status != 201 {
			t.Fatalf("create assignment = %d %v", r.status, r.body)
		}
	}
	t.Run("RouteBudgetOnChat", func(t *testing.T) {
		base := newTestApp(t)
		routeBudget(t, base, "POST /v1/chat/completions")
		got, last := statuses(t, 3, func() apiResult { return call(t, "POST", base+"/v1/chat/completions", chatBody) })
		want(t, got, last)
		// The budget is the route's: other routes are not refused.
		if r := call(t, "GET", base+"/v1/models", ""); r.status != 200 {
			t.Fatalf("GET /v1/models = %d, want 200", r.status)
		}
	})
	t.Run("RouteBudgetOnConversationPost", func(t *testing.T) {
		base := newTestApp(t)
		routeBudget(t, base, "POST /api/conversations/{id}/messages")
		c := call(t, "POST", base+"/api/conversations", `{"title":"budget"}`)
		id, _ := c.body["id"].(string)
		got, last := statuses(t, 3, func() apiResult {
			return call(t, "POST", base+"/api/conversations/"+id+"/messages", `{"content":"one two three"}`)
		})
		want(t, got, last)
	})
}
