// Package ratelimit implements Tollgate's rate limits (SPEC section 5): the
// GCRA Limiter interface and its in-memory implementation, policy
// resolution (key > user > role > default, plus route buckets and token
// budgets), the Enforcer that an HTTP middleware calls per request, the
// response headers, and client IP extraction behind trusted proxies.
package ratelimit

import (
	"context"
	"time"
)

// Limit is a GCRA limit: Rate events per Period on average, of which up to
// Burst may come at once. A bucket that has been idle admits exactly Burst
// events immediately and then one per Interval.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerMinute returns a limit of rate events per minute with the given burst.
func PerMinute(rate, burst int) Limit {
	return Limit{Rate: rate, Period: time.Minute, Burst: burst}
}

// Interval is the emission interval: the time one event's allowance takes to
// come back (Period / Rate, at least 1ns).
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 {
		return l.Period
	}
	if e := l.Period / time.Duration(l.Rate); e > 0 {
		return e
	}
	return 1
}

// Tolerance is how far ahead of now a bucket's theoretical arrival time may
// run: Burst intervals.
func (l Limit) Tolerance() time.Duration {
	return satMul(l.Interval(), int64(l.Burst))
}

// Valid reports whether the limit can be enforced.
func (l Limit) Valid() bool { return l.Rate > 0 && l.Period > 0 && l.Burst > 0 }

// Result is the state of one bucket after a Limiter call.
type Result struct {
	Limit Limit
	// Allowed reports whether the cost fitted: for Allow, whether it was
	// admitted; for Peek, whether Allow would admit it; for Charge, whether
	// the bucket is still within its burst afterwards.
	Allowed bool
	// Remaining is how many more unit-cost events the bucket would admit
	// right now (0..Burst).
	Remaining int
	// RetryAfter is, for a refusal, how long until the same cost would be
	// admitted; 0 when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again (0 if full).
	ResetAfter time.Duration
}

// NewResult builds the Result of a bucket whose theoretical arrival time
// lies fill ahead of now. Backends that compute GCRA elsewhere (a Redis
// script) use it so every backend reports identically.
func NewResult(l Limit, allowed bool, fill, retryAfter time.Duration) Result {
	if fill < 0 {
		fill = 0
	}
	if allowed || retryAfter < 0 {
		retryAfter = 0
	}
	rem := int64(0)
	if room := l.Tolerance() - fill; room > 0 {
		rem = int64(room / l.Interval())
	}
	if rem > int64(l.Burst) {
		rem = int64(l.Burst)
	}
	return Result{Limit: l, Allowed: allowed, Remaining: int(rem), RetryAfter: retryAfter, ResetAfter: fill}
}

// Limiter keeps GCRA buckets by key. Implementations are safe for
// concurrent use; cost is in units of the limit's events (1 for a request,
// the token count for a token budget).
type Limiter interface {
	// Allow admits cost events if they fit the bucket and records them;
	// a refusal records nothing.
	Allow(ctx context.Context, key string, limit Limit, cost int) (Result, error)
	// Peek reports what Allow would answer without recording anything.
	Peek(ctx context.Context, key string, limit Limit, cost int) (Result, error)
	// Charge records cost unconditionally: the bucket may go into debt and
	// then refuses until the debt has drained. A negative cost refunds.
	Charge(ctx context.Context, key string, limit Limit, cost int) (Result, error)
}

// satMul multiplies d by n, saturating at about a century so theoretical
// arrival times never overflow.
func satMul(d time.Duration, n int64) time.Duration {
	const limit = 100 * 365 * 24 * time.Hour
	if n == 0 || d == 0 {
		return 0
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var out time.Duration
	if int64(limit/d) < n {
		out = limit
	} else {
		out = d * time.Duration(n)
	}
	if neg {
		return -out
	}
	return out
}
