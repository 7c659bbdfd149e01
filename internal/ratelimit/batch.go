package ratelimit

import (
	"context"
	"fmt"
)

// Call is one bucket of a batched decision, at cost 1. Peek only looks (a
// token budget: Check refuses an empty one, ChargeTokens fills it later).
type Call struct {
	Key   string
	Limit Limit
	Peek  bool
}

// BatchLimiter decides all of a request's buckets at once; the Redis
// limiter does it in one script call, so a request costs one round trip
// however many buckets apply.
type BatchLimiter interface {
	// Decide evaluates calls in order and stops at the first refusal:
	// results end with the refused bucket, and nothing is recorded. When
	// every bucket admits, each call that is not a Peek records its cost.
	Decide(ctx context.Context, calls []Call) ([]Result, error)
}

// Decide is BatchLimiter.Decide on any Limiter: lim's own Decide when it
// has one, else one Peek or Allow per bucket, giving back what earlier
// buckets took when a later one refuses.
func Decide(ctx context.Context, lim Limiter, calls []Call) ([]Result, error) {
	if b, ok := lim.(BatchLimiter); ok {
		return b.Decide(ctx, calls)
	}
	results := make([]Result, 0, len(calls))
	for i, c := range calls {
		op := lim.Allow
		if c.Peek {
			op = lim.Peek
		}
		res, err := op(ctx, c.Key, c.Limit, 1)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
		if res.Allowed {
			continue
		}
		for _, a := range calls[:i] {
			if a.Peek {
				continue
			}
			if _, err := lim.Charge(ctx, a.Key, a.Limit, -1); err != nil {
				return nil, fmt.Errorf("rate limit refund: %w", err)
			}
		}
		break
	}
	return results, nil
}
