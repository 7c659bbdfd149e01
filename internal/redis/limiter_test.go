package redis

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

func TestTwoInstancesShareTheLimit(t *testing.T) {
	prefix := uniquePrefix(t)
	// Two instances: separate clients (separate pools), one Redis.
	a := NewLimiter(testClient(t, ""), prefix)
	b := NewLimiter(testClient(t, ""), prefix)
	lim := ratelimit.Limit{Rate: 10, Period: time.Hour, Burst: 10} // refills one per 6 minutes
	ctx := context.Background()

	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := inst.Allow(ctx, "key:shared", lim, 1)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Allowed {
				admitted.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got, want := admitted.Load(), int64(10); got != want {
		t.Fatalf("two instances admitted %d of 60, want %d (the shared limit)", got, want)
	}
	res, err := b.Allow(ctx, "key:shared", lim, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > 6*time.Minute {
		t.Fatalf("after the burst = %+v, want refused with 0 < RetryAfter <= 6m", res)
	}
}

func TestRedisSemanticsMatchMemory(t *testing.T) {
	prefix := uniquePrefix(t)
	l := NewLimiter(testClient(t, ""), prefix)
	ctx := context.Background()
	lim := ratelimit.Limit{Rate: 1000, Period: time.Hour, Burst: 1000}

	t.Run("AllowCountsDown", func(t *testing.T) {
		for i := range 3 {
			res, err := l.Allow(ctx, "a", ratelimit.Limit{Rate: 3, Period: time.Hour, Burst: 3}, 1)
			if err != nil || !res.Allowed || res.Remaining != 2-i {
				t.Fatalf("Allow #%d = %+v, %v; want allowed with %d remaining", i+1, res, err, 2-i)
			}
		}
	})
	t.Run("PeekRecordsNothing", func(t *testing.T) {
		for range 3 {
			res, err := l.Peek(ctx, "p", lim, 1000)
			if err != nil || !res.Allowed || res.Remaining != 1000 {
				t.Fatalf("Peek = %+v, %v; want allowed, 1000 remaining", res, err)
			}
		}
	})
	t.Run("ChargeIntoDebtRefusesPeek", func(t *testing.T) {
		res, err := l.Charge(ctx, "c", lim, 1500)
		if err != nil || res.Allowed || res.Remaining != 0 {
			t.Fatalf("Charge 1500 of 1000 = %+v, %v; want over budget", res, err)
		}
		res, err = l.Peek(ctx, "c", lim, 1)
		if err != nil || res.Allowed {
			t.Fatalf("Peek in debt = %+v, %v; want refused", res, err)
		}
		// 500 tokens plus one at 1000/hour: about 30 minutes.
		if res.RetryAfter < 30*time.Minute || res.RetryAfter > 31*time.Minute {
			t.Fatalf("RetryAfter = %v, want about 30m", res.RetryAfter)
		}
	})
	t.Run("InvalidLimit", func(t *testing.T) {
		if _, err := l.Allow(ctx, "x", ratelimit.Limit{}, 1); err == nil {
			t.Fatal("want an error for a zero limit")
		}
	})
}
