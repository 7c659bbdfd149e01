package auth

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func TestDefaultHashConcurrency(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	if got, want := DefaultHashConcurrency(DefaultPasswordParams()), min(procs, 13); got != want {
		t.Fatalf("slots at 19 MiB = %d, want %d (GOMAXPROCS, at most 256 MiB / 19 MiB)", got, want)
	}
	if got := DefaultHashConcurrency(PasswordParams{MemoryKiB: 1 << 20}); got != 1 {
		t.Fatalf("slots at 1 GiB = %d, want 1", got)
	}
	old := debug.SetMemoryLimit(4 * 19 * 19456 << 10) // GOMEMLIMIT: a quarter of it fits 19 hashes
	defer debug.SetMemoryLimit(old)
	if got, want := DefaultHashConcurrency(PasswordParams{MemoryKiB: 19456 * 19 / 2}), min(procs, 2); got != want {
		t.Fatalf("slots under GOMEMLIMIT = %d, want %d", got, want)
	}
}

func TestHashLimiterQueuesThenOverloaded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewHashLimiter(1, time.Second)
		release, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// A waiter that gets the slot before its deadline.
		got := make(chan error, 1)
		go func() {
			r, err := l.Acquire(context.Background())
			if err == nil {
				r()
			}
			got <- err
		}()
		time.Sleep(999 * time.Millisecond)
		release()
		if err := <-got; err != nil {
			t.Fatalf("queued Acquire = %v, want the freed slot", err)
		}
		// A waiter whose deadline passes.
		release, _ = l.Acquire(context.Background())
		_, err = l.Acquire(context.Background())
		ge, ok := gateway.AsError(err)
		if !ok || ge.Kind != gateway.KindUnavailable || ge.Code != "overloaded" || ge.RetryAfter != 1 {
			t.Fatalf("Acquire past the wait = %v, want 503 overloaded with Retry-After 1", err)
		}
		release()
	})
}
