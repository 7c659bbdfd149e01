package redis

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/testsvc"
)

func TestFallbackWhileRedisIsDown(t *testing.T) {
	proxy := newTCPProxy(t, redisAddr(t))
	prefix := uniquePrefix(t)
	direct := testClient(t, "")
	clk := testsvc.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	f, err := NewFallback(FallbackOptions{
		Primary:       NewLimiter(testClient(t, proxy.Addr()), prefix),
		Registerer:    reg,
		Log:           slog.New(slog.NewTextHandler(&logs, nil)),
		Now:           clk.Now,
		ProbeInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 5, Period: time.Hour, Burst: 5}
	allow := func() ratelimit.Result {
		t.Helper()
		res, err := f.Allow(ctx, "key:k", lim, 1)
		if err != nil {
			t.Fatalf("Allow: %v (the fallback must always decide)", err)
		}
		return res
	}

	// Healthy: two requests on Redis.
	for i := range 2 {
		if res := allow(); !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("healthy #%d = %+v", i+1, res)
		}
	}
	if n, err := direct.Exists(ctx, prefix+"key:k").Result(); err != nil || n != 1 {
		t.Fatalf("redis bucket exists = %d, %v; want 1", n, err)
	}

	// Redis unreachable: decisions continue on local buckets, which
	// enforce the limit on their own (5 fresh).
	proxy.SetDown(true)
	admitted := 0
	for range 8 {
		if allow().Allowed {
			admitted++
		}
	}
	if admitted != 5 {
		t.Fatalf("local buckets admitted %d, want 5", admitted)
	}
	if !f.Degraded() {
		t.Fatal("Degraded = false while Redis is down")
	}
	if got := testutil.ToFloat64(f.decisions); got != 8 {
		t.Fatalf("fallback decisions = %v, want 8", got)
	}
	if got := testutil.ToFloat64(f.incidents); got != 1 {
		t.Fatalf("incidents = %v, want 1", got)
	}
	if got := testutil.ToFloat64(f.state); got != 1 {
		t.Fatalf("degraded gauge = %v, want 1", got)
	}
	// A probe while still down fails quietly: no second log line.
	clk.Advance(time.Second)
	allow()
	if got := strings.Count(logs.String(), "falling back"); got != 1 {
		t.Fatalf("fallback logged %d times, want once per incident:\n%s", got, logs.String())
	}

	// Redis back: nothing changes until the next probe is due...
	proxy.SetDown(false)
	allow()
	if !f.Degraded() {
		t.Fatal("switched back before the probe interval")
	}
	// ...then the probe goes to Redis, where the bucket still holds the two
	// healthy requests: this is the third.
	clk.Advance(time.Second)
	if res := allow(); !res.Allowed || res.Remaining != 2 {
		t.Fatalf("after recovery = %+v, want allowed on Redis with 2 remaining", res)
	}
	if f.Degraded() {
		t.Fatal("still degraded after a successful probe")
	}
	if got := testutil.ToFloat64(f.state); got != 0 {
		t.Fatalf("degraded gauge = %v, want 0", got)
	}
	if !strings.Contains(logs.String(), "redis recovered") {
		t.Fatalf("recovery not logged:\n%s", logs.String())
	}
	before := testutil.ToFloat64(f.decisions)
	allow()
	if got := testutil.ToFloat64(f.decisions); got != before {
		t.Fatalf("fallback decisions grew to %v after recovery", got)
	}
}

type errLimiter struct{ ratelimit.Limiter }

func (errLimiter) Allow(ctx context.Context, _ string, _ ratelimit.Limit, _ int) (ratelimit.Result, error) {
	if err := ctx.Err(); err != nil {
		return ratelimit.Result{}, err
	}
	return ratelimit.Result{}, errors.New("down")
}

func TestFallbackCallerCancelIsNotAnIncident(t *testing.T) {
	f, err := NewFallback(FallbackOptions{Primary: errLimiter{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Allow(ctx, "k", ratelimit.PerMinute(1, 1), 1); err == nil {
		t.Fatal("Allow with a cancelled context: want its error")
	}
	if f.Degraded() || testutil.ToFloat64(f.incidents) != 0 {
		t.Fatal("a cancelled caller counted as a Redis incident")
	}
	if _, err := NewFallback(FallbackOptions{}); err == nil {
		t.Fatal("NewFallback without Primary: want an error")
	}
}
