package auth

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// HashLimiter bounds how many argon2id computations (hashes and
// verifications) run at once. Each one allocates the memory cost of its
// parameters (19 MiB at OWASP's minimum) for its whole duration, so without
// a bound N parallel logins cost N × 19 MiB: the limiter keeps the process
// under its base memory + slots × memory cost whatever the load.
// Callers beyond the slots queue for at most Wait, then get 503 overloaded.
type HashLimiter struct {
	slots chan struct{}
	wait  time.Duration
}

// DefaultHashWait is how long a password check queues for a slot by default
// (auth.password_hash_wait).
const DefaultHashWait = 5 * time.Second

// NewHashLimiter returns a limiter with n slots (n < 1 means 1) whose
// callers queue for at most wait (wait <= 0 means DefaultHashWait).
func NewHashLimiter(n int, wait time.Duration) *HashLimiter {
	if n < 1 {
		n = 1
	}
	if wait <= 0 {
		wait = DefaultHashWait
	}
	return &HashLimiter{slots: make(chan struct{}, n), wait: wait}
}

// Slots returns the number of computations that may run at once.
func (l *HashLimiter) Slots() int { return cap(l.slots) }

// errOverloaded is the answer when no slot frees up within the wait.
var errOverloaded = &gateway.Error{Kind: gateway.KindUnavailable, Code: "overloaded",
	Message: "Too many password checks in progress; retry shortly", RetryAfter: 1}

// Acquire takes a slot, queueing for at most the limiter's wait (and never
// past ctx). It returns the function that gives the slot back, or 503
// overloaded (Retry-After 1) when no slot freed up in time, or the context's
// error as 503 overloaded when ctx ended first.
func (l *HashLimiter) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-t.C:
		return nil, errOverloaded
	case <-ctx.Done():
		return nil, errOverloaded
	}
}

func (l *HashLimiter) release() { <-l.slots }

// defaultHashBudget is the memory argon2id may use at once when neither
// auth.password_hash_concurrency nor GOMEMLIMIT says otherwise.
const defaultHashBudget = 256 << 20

// DefaultHashConcurrency derives auth.password_hash_concurrency when it is
// 0: as many slots as GOMAXPROCS (argon2id is CPU-bound; more slots add
// memory, not throughput), at most as many as fit a memory budget of a
// quarter of GOMEMLIMIT when one is set, else 256 MiB, and at least 1.
func DefaultHashConcurrency(p PasswordParams) int {
	budget := int64(defaultHashBudget)
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		budget = lim / 4
	}
	per := int64(p.MemoryKiB) << 10
	if per <= 0 {
		per = 1
	}
	return max(1, min(runtime.GOMAXPROCS(0), int(budget/per)))
}
