package redis

import (
	"context"
	"testing"
	"time"

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
