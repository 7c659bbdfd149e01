package budget

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// Counters keep the budget counters and max_parallel slots that every
// instance shares (internal/redis.BudgetCounters, on Redis). With Counters
// a Service admits with one Reserve call (one round trip) for all of a
// request's slots and budgets; the database still gets every settled use
// (through the usage writer), the counters get it after the database has
// it (Settle, one round trip per written batch), and they are rebuilt
// from the database when they are lost.
type Counters interface {
	// Reserve atomically takes every slot and reserves every charge, or
	// nothing (see Outcome); with r.Limits it decides those rate-limit
	// buckets first, in the same call.
	Reserve(ctx context.Context, r *Reservation) (Outcome, error)
	// DecidesLimits reports whether Reserve can decide rate-limit buckets
	// (the rate limiter's buckets are on the same Redis).
	DecidesLimits() bool
	// FreeSlots frees the max_parallel slots reservation id took.
	FreeSlots(ctx context.Context, id string, slots []Slot) error
	// Settle replaces each use's reservations by its real use (tokens,
	// cost) on every budget it reserved, all in one round trip.
	Settle(ctx context.Context, uses []gateway.SettledUse) error
}

// Slot is one max_parallel slot: Key "key:<id>" or "user:<id>", at most Max
// requests in flight.
type Slot struct {
	Key string
	Max int
}

// Reservation is one admitted (or refused) request as Counters see it.
type Reservation struct {
	ID      string
	Slots   []Slot
	Charges []gateway.BudgetCharge // the worst case, per matching budget
	Now     time.Time
	Expires time.Time // when unreleased slots and reservations lapse
	// Limits are the request's rate-limit buckets (a deferred decision's
	// calls), decided before the budgets in the same call; nil: none.
	Limits []ratelimit.Call
}

// Outcome is what Reserve decided.
type Outcome struct {
	// RefusedSlot is the index of the full slot, RefusedBudget of the
	// budget without room; -1 when none refused.
	RefusedSlot, RefusedBudget int
	// Limited: a rate-limit bucket refused (nothing was reserved).
	Limited bool
	// Limits are the results of r.Limits, up to the first refusal.
	Limits []ratelimit.Result
}

// SharesLimits reports whether p's requests should leave their rate-limit
// decision to admission (ratelimit.Deferred): the counters can decide the
// buckets, and p has budgets or max_parallel slots there, so one script
// call decides both.
func (s *Service) SharesLimits(p *gateway.Principal) bool {
	if p == nil || s.counters == nil || !s.counters.DecidesLimits() {
		return false
	}
	return len(wantSlots(p)) > 0 || s.anyMatching(p)
}

// admitShared is Admit with Counters: one Reserve for every slot and
// budget, and for the request's deferred rate-limit decision. When
// Counters fail (Redis unreachable) it decides the rate limit on the
// rate limiter (and its fallback) and falls back to the database path
// (guarded UPDATEs, slots of this instance only), and logs.
func (s *Service) admitShared(ctx context.Context, p *gateway.Principal, tokens int64, cost gateway.Micros) (*gateway.Admission, error) {
	slots := wantSlots(p)
	budgets := s.Matching(p)
	deferred := ratelimit.DeferredFrom(ctx)
	if len(slots) == 0 && len(budgets) == 0 {
		return nil, deferred.CheckNow(ctx)
	}
	now := s.clock()
	r := &Reservation{ID: rand.Text(), Slots: slots, Charges: charges(budgets, now, tokens, cost), Now: now, Expires: now.Add(s.ttl)}
	if deferred != nil {
		if !s.counters.DecidesLimits() {
			if err := deferred.CheckNow(ctx); err != nil {
				return nil, err
			}
		} else {
			r.Limits, _ = deferred.Take() // nil when decided already
		}
	}
	out, err := s.counters.Reserve(ctx, r)
	if err != nil {
		s.log.WarnContext(ctx, "shared budget counters unavailable, admitting on the database", "err", err)
		s.fallbacks.Inc()
		s.fallbackCount.Add(1)
		if r.Limits != nil {
			if err := deferred.Fail(ctx); err != nil {
				return nil, err
			}
		}
		return s.admitDB(ctx, p, tokens, cost)
	}
	if r.Limits != nil {
		if err := deferred.Resolve(out.Limits); err != nil {
			return nil, err
		}
	}
	switch {
	case out.Limited:
		return nil, gateway.Internal("shared budgets", fmt.Errorf("rate limit refused without a refusing bucket"))
	case out.RefusedSlot >= 0:
		return nil, parallelExceeded(slots[out.RefusedSlot].Max)
	case out.RefusedBudget >= 0:
		return nil, exceeded(budgets[out.RefusedBudget], now)
	}
	adm := &gateway.Admission{}
	if len(slots) > 0 {
		adm.Release = func(ctx context.Context) {
			if err := s.counters.FreeSlots(ctx, r.ID, slots); err != nil {
				s.log.WarnContext(ctx, "free shared max_parallel slots (they lapse at expiry)", "err", err)
			}
		}
	}
	if len(budgets) > 0 {
		adm.Settlement, adm.SettleNow = settlement(r.ID, true, r.Charges), s.settleNow
	}
	return adm, nil
}

// SharedFallbacks is how many admissions since New found the shared
// counters unavailable and used the database path instead (also counted in
// tollgate_budget_shared_fallbacks_total).
func (s *Service) SharedFallbacks() int64 { return s.fallbackCount.Load() }

// wantSlots lists the max_parallel slots p needs.
func wantSlots(p *gateway.Principal) []Slot {
	var want []Slot
	if p.KeyMaxParallel > 0 && p.KeyID != "" {
		want = append(want, Slot{"key:" + p.KeyID, p.KeyMaxParallel})
	}
	if p.UserMaxParallel > 0 && p.UserID != "" {
		want = append(want, Slot{"user:" + p.UserID, p.UserMaxParallel})
	}
	return want
}

// parallelExceeded is the 429 for a full max_parallel slot.
func parallelExceeded(max int) *gateway.Error {
	return &gateway.Error{Kind: gateway.KindRateLimited, Code: "rate_limit_exceeded", RetryAfter: 1,
		Message: fmt.Sprintf("Too many requests in flight: at most %d at once.", max)}
}
