package redis

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// TestDecideAllOrNothing: a refused bucket stops the decision and nothing
// is recorded, not even in the buckets before it; peeked buckets are never
// recorded.
func TestDecideAllOrNothing(t *testing.T) {
	l := NewLimiter(testClient(t, ""), uniquePrefix(t))
	ctx := context.Background()
	wide := ratelimit.Limit{Rate: 5, Period: time.Hour, Burst: 5}
	narrow := ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 1}
	calls := []ratelimit.Call{{Key: "tokens", Limit: narrow, Peek: true}, {Key: "wide", Limit: wide}, {Key: "narrow", Limit: narrow}}
	res, err := l.Decide(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || !res[0].Allowed || !res[1].Allowed || !res[2].Allowed || res[1].Remaining != 4 || res[2].Remaining != 0 {
		t.Fatalf("first decision = %+v, want 3 allowed, remaining 4 and 0", res)
	}
	res, err = l.Decide(ctx, calls)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || !res[1].Allowed || res[2].Allowed || res[2].RetryAfter <= 0 {
		t.Fatalf("second decision = %+v, want narrow refused with a RetryAfter", res)
	}
	for _, c := range []struct {
		key  string
		lim  ratelimit.Limit
		want int
	}{{"wide", wide, 4}, {"tokens", narrow, 1}} {
		got, err := l.Peek(ctx, c.key, c.lim, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Remaining != c.want {
			t.Fatalf("%s remaining = %d, want %d (the refused decision recorded nothing)", c.key, got.Remaining, c.want)
		}
	}
}

// countingHook counts the commands a client sends (an EVALSHA is one).
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *countingHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countingHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

// TestEnforcerOneRoundTrip: a request with a token budget, a route
// bucket, its own and its key owner's bucket costs one Redis command.
func TestEnforcerOneRoundTrip(t *testing.T) {
	c := testClient(t, "")
	hook := &countingHook{}
	c.AddHook(hook)
	pol := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 1000, Burst: 1000, TokensPerMinute: 100000}
	res := ratelimit.NewResolver(ratelimit.ResolverOptions{Default: pol})
	e := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{Limiter: NewLimiter(c, uniquePrefix(t)), Policies: res})
	req := ratelimit.Request{Principal: &gateway.Principal{KeyID: "k1", UserID: "u1", Role: gateway.RoleContributor}, Route: "POST /v1/chat/completions"}
	ctx := context.Background()
	if _, err := e.Check(ctx, req); err != nil { // loads the script
		t.Fatal(err)
	}
	hook.n.Store(0)
	d, err := e.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Buckets) < 3 {
		t.Fatalf("buckets = %+v, want at least 3 (token budgets, own, owner)", d.Buckets)
	}
	if got := hook.n.Load(); got != 1 {
		t.Fatalf("redis commands per decision = %d, want 1", got)
	}
}
