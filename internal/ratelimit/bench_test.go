package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	lim := PerMinute(1_000_000_000, 1_000_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.Allow(ctx, "key:bench", lim, 1)
	}
}

func BenchmarkMemoryAllowParallel(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	lim := PerMinute(1_000_000_000, 1_000_000)
	ctx := context.Background()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
	}
	var n atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1) * 7919
		for pb.Next() {
			i++
			m.Allow(ctx, keys[i%uint64(len(keys))], lim, 1)
		}
	})
}

func BenchmarkEnforcerCheck(b *testing.B) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 1_000_000_000, Burst: 1_000_000, TokensPerMinute: 1_000_000_000}
	e := NewEnforcer(EnforcerOptions{Limiter: NewMemory(MemoryOptions{}), Policies: staticPolicies{NewPolicies(def, nil, nil)}})
	req := Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", UserID: "u"}, Route: "POST /v1/chat/completions"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
