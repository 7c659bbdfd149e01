package budget

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Counters keep the budget counters and max_parallel slots that every
// instance shares (internal/redis.BudgetCounters, on Redis). With Counters
// a Service admits with one Reserve call (one round trip) for all of a
// request's slots and budgets; the database still gets every settled use,
// and the counters are rebuilt from it when they are lost.
type Counters interface {
	// Reserve atomically takes every slot and reserves every charge, or
	// nothing: refused is the index of the full slot (refusedSlot) or of
	// the budget without room (refusedBudget), -1 when admitted.
	Reserve(ctx context.Context, r *Reservation) (refusedSlot, refusedBudget int, err error)
	// Release ends r: its slots are freed, its reservations replaced by
	// the real use (tokens, cost) on every budget.
	Release(ctx context.Context, r *Reservation, tokens int64, cost gateway.Micros) error
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
}

// admitShared is Admit with Counters: one Reserve for every slot and
// budget. When Counters fail (Redis unreachable) it falls back to the
// database path (guarded UPDATEs, slots of this instance only) and logs.
func (s *Service) admitShared(ctx context.Context, p *gateway.Principal, tokens int64, cost gateway.Micros) (gateway.Settle, error) {
	slots := wantSlots(p)
	budgets := s.Matching(p)
	if len(slots) == 0 && len(budgets) == 0 {
		return nil, nil
	}
	now := s.clock()
	r := &Reservation{ID: rand.Text(), Slots: slots, Charges: make([]gateway.BudgetCharge, len(budgets)), Now: now, Expires: now.Add(s.ttl)}
	for i, b := range budgets {
		start, _ := b.Period.Bounds(now)
		r.Charges[i] = gateway.BudgetCharge{Budget: b, PeriodStart: start, Tokens: tokens, Cost: cost}
	}
	slot, refused, err := s.counters.Reserve(ctx, r)
	if err != nil {
		s.log.WarnContext(ctx, "shared budget counters unavailable, admitting on the database", "err", err)
		s.fallbacks.Inc()
		s.fallbackCount.Add(1)
		return s.admitDB(ctx, p, tokens, cost)
	}
	switch {
	case slot >= 0:
		return nil, parallelExceeded(slots[slot].Max)
	case refused >= 0:
		return nil, exceeded(budgets[refused], now)
	}
	return func(ctx context.Context, tokens int64, cost gateway.Micros) {
		// The database first: a counter rebuilt meanwhile then already
		// holds this use, and the Release below can only over-count it
		// (refusing early), never admit beyond a budget.
		if len(budgets) > 0 {
			settled := make([]gateway.BudgetCharge, len(r.Charges))
			for i, c := range r.Charges {
				c.Tokens, c.Cost = tokens, cost
				settled[i] = c
			}
			counters, err := s.store.SettleBudgets(ctx, r.ID, settled)
			if err != nil {
				s.log.ErrorContext(ctx, "settle budgets", "err", err)
			} else {
				s.checkAlerts(ctx, budgets, counters)
			}
		}
		if err := s.counters.Release(ctx, r, tokens, cost); err != nil {
			s.log.WarnContext(ctx, "release shared budget counters (they lapse at expiry)", "err", err)
		}
	}, nil
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
