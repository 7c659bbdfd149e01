package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryExactBurstThenOnePerInterval(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	m := NewMemory(MemoryOptions{Now: clk.Now})
	lim := PerMinute(60, 5) // one per second, burst 5

	for i := range 5 {
		res, err := m.Allow(ctx, "k", lim, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed {
			t.Fatalf("request %d refused, want the first 5 admitted", i+1)
		}
		if got, want := res.Remaining, 4-i; got != want {
			t.Fatalf("request %d remaining = %d, want %d", i+1, got, want)
		}
	}
	res, _ := m.Allow(ctx, "k", lim, 1)
	if res.Allowed {
		t.Fatal("6th request admitted, want refused")
	}
	if got, want := res.RetryAfter, time.Second; got != want {
		t.Fatalf("RetryAfter = %v, want %v", got, want)
	}
	if got, want := res.ResetAfter, 5*time.Second; got != want {
		t.Fatalf("ResetAfter = %v, want %v", got, want)
	}

	for step := range 10 {
		clk.Advance(time.Second - time.Nanosecond)
		if res, _ := m.Allow(ctx, "k", lim, 1); res.Allowed {
			t.Fatalf("step %d: admitted 1ns before the interval", step)
		}
		clk.Advance(time.Nanosecond)
		if res, _ := m.Allow(ctx, "k", lim, 1); !res.Allowed {
			t.Fatalf("step %d: refused at the interval", step)
		}
		if res, _ := m.Allow(ctx, "k", lim, 1); res.Allowed {
			t.Fatalf("step %d: admitted twice in one interval", step)
		}
	}

	// After a full idle refill the burst is back, and no more than it.
	clk.Advance(time.Hour)
	n := 0
	for range 20 {
		if res, _ := m.Allow(ctx, "k", lim, 1); res.Allowed {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("after idle: admitted %d, want 5", n)
	}
}

func TestMemoryConcurrentAdmitsExactlyTheLimit(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	m := NewMemory(MemoryOptions{Now: clk.Now})
	lim := PerMinute(10, 10)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := m.Allow(ctx, "shared", lim, 1)
			if err != nil {
				t.Error(err)
			}
			if res.Allowed {
				admitted.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got, want := admitted.Load(), int64(10); got != want {
		t.Fatalf("admitted %d of 200, want %d", got, want)
	}
}

func TestMemoryPeekAndCharge(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	m := NewMemory(MemoryOptions{Now: clk.Now})
	lim := PerMinute(600, 600) // 10 per second, 600 at once

	t.Run("PeekRecordsNothing", func(t *testing.T) {
		for range 3 {
			res, _ := m.Peek(ctx, "p", lim, 600)
			if !res.Allowed || res.Remaining != 600 {
				t.Fatalf("Peek = %+v, want allowed with 600 remaining", res)
			}
		}
		if m.Len() != 0 {
			t.Fatalf("Len after peeks = %d, want 0", m.Len())
		}
	})
	t.Run("ChargeGoesIntoDebt", func(t *testing.T) {
		res, _ := m.Charge(ctx, "c", lim, 900)
		if res.Allowed || res.Remaining != 0 {
			t.Fatalf("Charge 900 of 600 = %+v, want over budget with 0 remaining", res)
		}
		// 300 in debt: refills 10/s, so one unit is available after 30.1s.
		clk.Advance(30 * time.Second)
		if res, _ := m.Peek(ctx, "c", lim, 1); res.Allowed {
			t.Fatalf("Peek after 30s = %+v, want refused (still 0 available)", res)
		} else if got, want := res.RetryAfter, 100*time.Millisecond; got != want {
			t.Fatalf("RetryAfter = %v, want %v", got, want)
		}
		clk.Advance(100 * time.Millisecond)
		if res, _ := m.Peek(ctx, "c", lim, 1); !res.Allowed || res.Remaining != 1 {
			t.Fatalf("Peek after 30.1s = %+v, want allowed with 1 remaining", res)
		}
	})
	t.Run("NegativeChargeRefunds", func(t *testing.T) {
		l := PerMinute(60, 2)
		m.Allow(ctx, "r", l, 1)
		m.Allow(ctx, "r", l, 1)
		if res, _ := m.Allow(ctx, "r", l, 1); res.Allowed {
			t.Fatal("3rd of burst 2 admitted")
		}
		m.Charge(ctx, "r", l, -1)
		if res, _ := m.Allow(ctx, "r", l, 1); !res.Allowed {
			t.Fatal("refused after a refund")
		}
	})
}

func TestMemoryEvictsIdleBuckets(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	m := NewMemory(MemoryOptions{Now: clk.Now, SweepInterval: time.Minute})
	lim := PerMinute(60, 10) // full 10s after the last request
	for i := range 1000 {
		m.Allow(ctx, fmt.Sprint("k", i), lim, 1)
	}
	if got := m.Len(); got != 1000 {
		t.Fatalf("Len = %d, want 1000", got)
	}
	clk.Advance(time.Minute)
	m.Allow(ctx, "fresh", lim, 1) // touches one shard; the rest sweep on their next use
	for i := range 1000 {
		m.Peek(ctx, fmt.Sprint("k", i), lim, 1)
	}
	if got := m.Len(); got != 1 {
		t.Fatalf("Len after idle sweep = %d, want 1", got)
	}
}

func TestMemoryBoundedKeys(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	m := NewMemory(MemoryOptions{Now: clk.Now, MaxKeys: 64 * 4})
	lim := PerMinute(1, 10)
	for i := range 10000 {
		m.Allow(ctx, fmt.Sprint("k", i), lim, 1)
	}
	if got := m.Len(); got > 64*4 {
		t.Fatalf("Len = %d, want at most %d", got, 64*4)
	}
}

func TestMemoryInvalidLimit(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	if _, err := m.Allow(context.Background(), "k", Limit{}, 1); err == nil {
		t.Fatal("Allow with a zero limit: want an error")
	}
}
