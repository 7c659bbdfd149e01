package redis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// TestRedisSettledThroughUsageWriter: admitted requests' usage records
// carry their settlements; the usage writer's transaction settles them in
// the database and, after the commit, the shared counters get the real
// use in one pipelined call per batch (even when Redis has lost the
// script), so both instances see the freed room.
func TestRedisSettledThroughUsageWriter(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) }
	ctx := context.Background()
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			svcs, _ := budgetServices(t, st, 2, now)
			b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodDay, MaxTokens: i64(100)}
			if err := svcs[0].Create(ctx, b); err != nil {
				t.Fatal(err)
			}
			if err := svcs[1].Reload(ctx); err != nil {
				t.Fatal(err)
			}
			p := &gateway.Principal{KeyID: "k1", Role: gateway.RoleContributor}
			adms, codes := admitParallel(t, svcs, p, 50, 10)
			if codes["admitted"] != 10 {
				t.Fatalf("outcomes = %v, want 10 admitted", codes)
			}
			if err := testClient(t, "").ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, FlushInterval: time.Hour, OnSettled: svcs[0].Settled})
			for i, a := range adms {
				if a.Settlement == nil || !a.Settlement.Shared {
					t.Fatalf("admission %d settlement = %+v, want a shared one", i, a.Settlement)
				}
				w.Record(gateway.UsageRecord{CreatedAt: now(), KeyID: "k1", Model: "m", PromptTokens: 3, CompletionTokens: 4,
					Status: gateway.UsageOK, HTTPStatus: 200, Settlement: a.Settlement})
				a.End(ctx)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			start, _ := gateway.PeriodDay.Bounds(now())
			if c, err := st.BudgetCounter(ctx, b.ID, start); err != nil || c.UsedTokens != 70 {
				t.Fatalf("database counter = %+v, %v; want 70 used", c, err)
			}
			// Redis holds 70 used and no reservation: 3 more of 10 fit.
			_, codes = admitParallel(t, svcs, p, 20, 10)
			if codes["admitted"] != 3 {
				t.Fatalf("after settling: outcomes = %v, want 3 admitted", codes)
			}
			noFallbacks(t, svcs)
		})
	}
}

// TestAdmissionOneRoundTrip: with the rate limits in Redis, a request
// with a budget and a max_parallel slot whose rate-limit decision was
// deferred to admission costs one Redis command for the rate-limit
// buckets, the slot and the budget together. A rate-limit refusal there
// reserves nothing; a budget refusal still counts against the rate limit
// (as when the two were decided one after the other).
func TestAdmissionOneRoundTrip(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) }
	ctx := context.Background()
	st := engines(t)["SQLite"](t)
	c := testClient(t, "")
	hook := &countingHook{}
	c.AddHook(hook)
	prefix := uniquePrefix(t)
	lim := NewLimiter(c, prefix+"rl:")
	counters := NewBudgetCounters(c, prefix+"budget:", st.BudgetCounter).DecidingLimits(lim)
	svc := budget.New(budget.Options{Store: st, Counters: counters, Now: now, ReservationTTL: time.Minute})
	b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodDay, MaxTokens: i64(25)}
	if err := svc.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	pol := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 4, Burst: 4}
	e := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{Limiter: lim, Policies: ratelimit.NewResolver(ratelimit.ResolverOptions{Default: pol})})
	p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k1", UserID: "u1", Role: gateway.RoleContributor, KeyMaxParallel: 5}
	if !svc.SharesLimits(p) {
		t.Fatal("SharesLimits = false for a key with a budget and shared counters")
	}
	if svc.SharesLimits(&gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "other", UserID: "u2", Role: gateway.RoleContributor}) {
		t.Fatal("SharesLimits = true for a key without budget or max_parallel")
	}
	admit := func(tokens int64) (http.Header, *gateway.Admission, error) {
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		r.Pattern = "POST /v1/chat/completions"
		r = r.WithContext(gateway.WithPrincipal(r.Context(), p))
		h := http.Header{}
		d := e.Defer(r, h)
		hook.n.Store(0)
		adm, err := svc.Admit(ratelimit.WithDeferred(ctx, d), p, tokens, 0)
		// What the router does after the handler: decided already, so
		// no second decision and no command.
		before := hook.n.Load()
		if err2 := d.CheckNow(ctx); isCode(err, "rate_limit_exceeded") != isCode(err2, "rate_limit_exceeded") || hook.n.Load() != before {
			t.Fatalf("the deferred decision after admission = %v (%d more commands), admission said %v", err2, hook.n.Load()-before, err)
		}
		return h, adm, err
	}
	if _, _, err := admit(10); err != nil { // loads the script
		t.Fatal(err)
	}
	h, adm, err := admit(10)
	if err != nil {
		t.Fatal(err)
	}
	if got := hook.n.Load(); got != 1 {
		t.Fatalf("redis commands for one admission = %d, want 1", got)
	}
	if h.Get("RateLimit-Policy") == "" || h.Get("RateLimit") == "" {
		t.Fatalf("rate-limit headers not set by the deferred decision: %v", h)
	}
	adm.End(ctx)
	// 20 of 25 tokens reserved: the budget refuses (and the rate limit
	// counts it: third of four).
	if _, _, err := admit(10); !isCode(err, "quota_exceeded") {
		t.Fatalf("third admission = %v, want quota_exceeded", err)
	}
	if _, _, err := admit(1); err != nil { // fourth: fits both
		t.Fatal(err)
	}
	// Fifth: the rate limit refuses, and nothing more is reserved.
	h, _, err = admit(1)
	if !isCode(err, "rate_limit_exceeded") || h.Get("RateLimit") == "" {
		t.Fatalf("fifth admission = %v (headers %v), want rate_limit_exceeded", err, h)
	}
	start, _ := gateway.PeriodDay.Bounds(now())
	raw, err := c.HGetAll(ctx, prefix+"budget:b:"+b.ID+":"+strconv.FormatInt(start.Unix(), 10)).Result()
	if err != nil || raw["rt"] != "21" {
		t.Fatalf("reserved tokens in Redis = %v, %v; want 21 (10 + 10 + 1: the refused ones reserved nothing)", raw, err)
	}
}

// isCode reports whether err is a *gateway.Error with code.
func isCode(err error, code string) bool {
	ge, ok := gateway.AsError(err)
	return ok && ge.Code == code
}
