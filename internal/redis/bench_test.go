package redis

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

func BenchmarkRedisAllow(b *testing.B) {
	l := NewLimiter(testClient(b, ""), uniquePrefix(b))
	lim := ratelimit.Limit{Rate: 1_000_000_000, Period: time.Minute, Burst: 1_000_000}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, "key:bench", lim, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisAllowParallel(b *testing.B) {
	l := NewLimiter(testClient(b, ""), uniquePrefix(b))
	lim := ratelimit.Limit{Rate: 1_000_000_000, Period: time.Minute, Burst: 1_000_000}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, "key:bench", lim, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// perBucket hides Limiter.Decide, so the enforcer makes one call per
// bucket: the path before decisions were batched.
type perBucket struct{ ratelimit.Limiter }

// BenchmarkEnforcerRedis is one rate-limit decision of a key request
// (token budgets, own and owner buckets) on Redis: Batched is one script
// call, PerBucket one call per bucket, in the same run.
func BenchmarkEnforcerRedis(b *testing.B) {
	pol := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 1_000_000_000, Burst: 1_000_000, TokensPerMinute: 1_000_000_000}
	req := ratelimit.Request{Principal: &gateway.Principal{KeyID: "k1", UserID: "u1", Role: gateway.RoleContributor}, Route: "POST /v1/chat/completions"}
	for _, bc := range []struct {
		name string
		wrap func(ratelimit.Limiter) ratelimit.Limiter
	}{
		{"Batched", func(l ratelimit.Limiter) ratelimit.Limiter { return l }},
		{"PerBucket", func(l ratelimit.Limiter) ratelimit.Limiter { return perBucket{l} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{
				Limiter:  bc.wrap(NewLimiter(testClient(b, ""), uniquePrefix(b))),
				Policies: ratelimit.NewResolver(ratelimit.ResolverOptions{Default: pol}),
			})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
