// Package budget enforces SPEC 5.1's budgets and max_parallel: admission
// reserves a request's worst case against every budget that matches its
// principal (one guarded UPDATE per budget in one database transaction,
// or, with Counters on Redis, one script call for every budget and
// max_parallel slot together, see shared.go). Settlement replaces the
// reservation with the real use off the request path: the request's usage
// record carries its gateway.BudgetSettlement, the usage writer's
// transaction applies it (exactly once) and calls Settled after the
// commit. Reservations that never settle expire. Budgets are matched from
// an in-memory index reloaded from the store, so a request no budget
// applies to costs no database round trip.
package budget

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// Options configure a Service.
type Options struct {
	Store gateway.BudgetStore
	// ReservationTTL is how long an unsettled reservation holds (the
	// longest provider timeout); default 10 minutes.
	ReservationTTL time.Duration
	// Registerer takes tollgate_budget_alerts_total; nil leaves it
	// unregistered.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Audit records budget changes and alerts (nil: nothing is recorded).
	Audit gateway.Auditor
	// Counters, when set (Redis), hold the counters and max_parallel
	// slots every instance shares; nil keeps them in the database and
	// slots per instance.
	Counters Counters
}

// Service admits and settles requests against budgets. Safe for
// concurrent use.
type Service struct {
	store    gateway.BudgetStore
	counters Counters
	ttl      time.Duration
	log      *slog.Logger
	now      atomic.Pointer[func() time.Time]

	index atomic.Pointer[index]

	mu       sync.Mutex
	inFlight map[string]int // "key:<id>" / "user:<id>" → requests in flight

	alerts prometheus.Counter
	audit  gateway.Auditor
	// fallbacks counts admissions that found the shared counters
	// unavailable and went to the database path instead.
	fallbacks     prometheus.Counter
	fallbackCount atomic.Int64
	// alerted remembers the (budget, period start) alerts this instance
	// saw recorded, so a budget past its threshold costs no extra write
	// per request.
	alerted sync.Map
}

// index maps "<subject_type>\x00<subject>" to its budgets.
type index struct {
	all   []gateway.Budget
	bySub map[string][]gateway.Budget
	byID  map[string]gateway.Budget
}

func subjectKey(t gateway.BudgetSubjectType, subject string) string {
	return string(t) + "\x00" + subject
}

// New returns a Service with an empty index; call Reload (or Run) to load
// the budgets.
func New(opt Options) *Service {
	s := &Service{store: opt.Store, counters: opt.Counters, ttl: opt.ReservationTTL, log: opt.Log, inFlight: map[string]int{}, audit: opt.Audit,
		alerts: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_budget_alerts_total",
			Help: "Budgets whose alert_percent was crossed (once per budget and period)."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_budget_shared_fallbacks_total",
			Help: "Admissions that found the shared (Redis) budget counters unavailable and used the database path (slots per instance)."})}
	if s.audit == nil {
		s.audit = gateway.NopAuditor{}
	}
	if s.ttl <= 0 {
		s.ttl = 10 * time.Minute
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	s.now.Store(&now)
	s.index.Store(&index{bySub: map[string][]gateway.Budget{}, byID: map[string]gateway.Budget{}})
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(s.alerts, s.fallbacks)
	}
	return s
}

// SetNow replaces the clock (tests).
func (s *Service) SetNow(now func() time.Time) { s.now.Store(&now) }

func (s *Service) clock() time.Time { return (*s.now.Load())() }

// Reload reads every budget into the index.
func (s *Service) Reload(ctx context.Context) error {
	all, err := s.store.ListBudgets(ctx)
	if err != nil {
		return fmt.Errorf("reload budgets: %w", err)
	}
	ix := &index{all: all, bySub: map[string][]gateway.Budget{}, byID: make(map[string]gateway.Budget, len(all))}
	for _, b := range all {
		ix.byID[b.ID] = b
		k := subjectKey(b.SubjectType, b.Subject)
		ix.bySub[k] = append(ix.bySub[k], b)
	}
	s.index.Store(ix)
	return nil
}

// Run reloads the budgets every interval (so a change on another instance
// applies within it) and releases expired reservations, until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "reload budgets", "err", err)
		}
		if _, err := s.store.ExpireBudgetReservations(ctx, s.clock()); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "expire budget reservations", "err", err)
		}
	}
}

// Matching returns the budgets that apply to p: its key's, its user's (a
// key's owner), its end user's ("<key id>:<end user>") and its role's.
func (s *Service) Matching(p *gateway.Principal) []gateway.Budget {
	var out []gateway.Budget
	s.eachMatching(p, func(bs []gateway.Budget) bool { out = append(out, bs...); return true })
	return out
}

// anyMatching reports whether a budget applies to p (Matching without
// building the list).
func (s *Service) anyMatching(p *gateway.Principal) bool {
	found := false
	s.eachMatching(p, func([]gateway.Budget) bool { found = true; return false })
	return found
}

// eachMatching calls fn with the budgets of each of p's subjects that has
// some, until fn returns false.
func (s *Service) eachMatching(p *gateway.Principal, fn func([]gateway.Budget) bool) {
	ix := s.index.Load()
	if p == nil || len(ix.all) == 0 {
		return
	}
	subjects := [...]struct {
		t       gateway.BudgetSubjectType
		subject string
	}{{gateway.BudgetKey, p.KeyID}, {gateway.BudgetUser, p.UserID}, {gateway.BudgetEndUser, ""}, {gateway.BudgetRole, p.Role.String()}}
	if p.EndUserMode && p.EndUserID != "" && p.KeyID != "" {
		subjects[2].subject = p.KeyID + ":" + p.EndUserID
	}
	for _, sub := range subjects {
		if sub.subject == "" {
			continue
		}
		if bs := ix.bySub[subjectKey(sub.t, sub.subject)]; len(bs) > 0 && !fn(bs) {
			return
		}
	}
}

// Admit checks max_parallel and reserves tokens and cost (the request's
// worst case) against every budget matching p. It returns the request's
// Admission (nil when nothing needs settling or releasing), or 429:
// rate_limit_exceeded (Retry-After 1) beyond max_parallel, quota_exceeded
// (Retry-After: seconds to the refusing budget's period end, none for
// total) when a budget cannot hold the worst case.
//
// A rate-limit decision the request deferred to admission
// (ratelimit.Deferred, see SharesLimits) is made here first: in the same
// Redis call as the budgets when the counters can, else on its own.
func (s *Service) Admit(ctx context.Context, p *gateway.Principal, tokens int64, cost gateway.Micros) (*gateway.Admission, error) {
	if p != nil && s.counters != nil {
		return s.admitShared(ctx, p, tokens, cost)
	}
	if err := ratelimit.DeferredFrom(ctx).CheckNow(ctx); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, nil
	}
	return s.admitDB(ctx, p, tokens, cost)
}

// charges is the worst case of a request against each of budgets' current
// period.
func charges(budgets []gateway.Budget, now time.Time, tokens int64, cost gateway.Micros) []gateway.BudgetCharge {
	out := make([]gateway.BudgetCharge, len(budgets))
	for i, b := range budgets {
		start, _ := b.Period.Bounds(now)
		out[i] = gateway.BudgetCharge{Budget: b, PeriodStart: start, Tokens: tokens, Cost: cost}
	}
	return out
}

// settlement is what a reservation of charges leaves to settle.
func settlement(id string, shared bool, charges []gateway.BudgetCharge) *gateway.BudgetSettlement {
	st := &gateway.BudgetSettlement{ReservationID: id, Shared: shared, Reserved: make([]gateway.ReservedCharge, len(charges))}
	for i, c := range charges {
		st.Reserved[i] = gateway.ReservedCharge{BudgetID: c.Budget.ID, PeriodStart: c.PeriodStart, Tokens: c.Tokens, Cost: c.Cost}
	}
	return st
}

// admitDB is Admit on the database: one guarded UPDATE per budget in one
// transaction, max_parallel slots of this instance.
func (s *Service) admitDB(ctx context.Context, p *gateway.Principal, tokens int64, cost gateway.Micros) (*gateway.Admission, error) {
	slots, err := s.acquire(p)
	if err != nil {
		return nil, err
	}
	var adm *gateway.Admission
	if slots != nil {
		adm = &gateway.Admission{Release: func(context.Context) { s.release(slots) }}
	}
	budgets := s.Matching(p)
	if len(budgets) == 0 {
		return adm, nil
	}
	now := s.clock()
	ch := charges(budgets, now, tokens, cost)
	id := rand.Text()
	refused, err := s.store.ReserveBudgets(ctx, id, ch, now.Add(s.ttl))
	if err != nil {
		s.release(slots)
		return nil, gateway.Internal("reserve budgets", err)
	}
	if refused != "" {
		s.release(slots)
		for _, b := range budgets {
			if b.ID == refused {
				return nil, exceeded(b, now)
			}
		}
		return nil, exceeded(gateway.Budget{ID: refused, Period: gateway.PeriodTotal}, now)
	}
	if adm == nil {
		adm = &gateway.Admission{}
	}
	adm.Settlement, adm.SettleNow = settlement(id, false, ch), s.settleNow
	return adm, nil
}

// settleNow settles one use in its own transaction (an Admission settled
// without a usage writer).
func (s *Service) settleNow(ctx context.Context, use gateway.SettledUse) {
	uses := []gateway.SettledUse{use}
	counters, err := s.store.SettleBudgets(ctx, uses)
	if err != nil {
		s.log.ErrorContext(ctx, "settle budgets", "err", err)
	}
	s.Settled(ctx, gateway.BudgetSettled{Uses: uses, Counters: counters})
}

// Settled finishes settlements the database has applied (the usage
// writer calls it after each commit): the shared counters get the real
// uses in place of their reservations (one round trip for all), and
// budgets whose alert threshold the counters crossed are alerted.
func (s *Service) Settled(ctx context.Context, settled gateway.BudgetSettled) {
	if s.counters != nil {
		var shared []gateway.SettledUse
		for _, u := range settled.Uses {
			if u.Settlement != nil && u.Settlement.Shared {
				shared = append(shared, u)
			}
		}
		if len(shared) > 0 {
			if err := s.counters.Settle(ctx, shared); err != nil {
				s.log.WarnContext(ctx, "settle shared budget counters (their reservations lapse at expiry)", "err", err)
			}
		}
	}
	s.checkAlerts(ctx, settled)
}

// exceeded is the 429 quota_exceeded answer naming budget b.
func exceeded(b gateway.Budget, now time.Time) *gateway.Error {
	e := &gateway.Error{Kind: gateway.KindRateLimited, Code: "quota_exceeded", RetryAfter: -1}
	what := fmt.Sprintf("the %s budget %s of %s %q", b.Period, b.ID, b.SubjectType, b.Subject)
	if _, end := b.Period.Bounds(now); !end.IsZero() {
		e.RetryAfter = int(math.Ceil(end.Sub(now).Seconds()))
		e.Message = fmt.Sprintf("Budget exceeded: %s has no room for this request; it resets at %s.", what, end.Format(time.RFC3339))
	} else {
		e.Message = fmt.Sprintf("Budget exceeded: %s has no room for this request; it does not reset.", what)
	}
	return e
}

// checkAlerts logs and counts each budget whose alert_percent the settled
// use crossed, once per budget and period (the store's flag decides). The
// audit record names the request whose use was settled last on that
// budget (outside a request, e.g. in the usage writer, only its id is
// known).
func (s *Service) checkAlerts(ctx context.Context, settled gateway.BudgetSettled) {
	byID := s.index.Load().byID
	for _, c := range settled.Counters {
		b, ok := byID[c.BudgetID]
		if !ok || b.AlertPercent <= 0 {
			continue
		}
		crossed := (b.MaxTokens != nil && c.UsedTokens*100 >= *b.MaxTokens*int64(b.AlertPercent)) ||
			(b.MaxCost != nil && int64(c.UsedCost)*100 >= int64(*b.MaxCost)*int64(b.AlertPercent))
		if !crossed {
			continue
		}
		seen := b.ID + "@" + c.PeriodStart.Format(time.RFC3339)
		if _, ok := s.alerted.Load(seen); ok {
			continue
		}
		var first bool
		actx := ctx
		if gateway.RequestMetaFrom(ctx) == (gateway.RequestMeta{}) {
			actx = gateway.WithRequestMeta(ctx, gateway.RequestMeta{RequestID: lastRequest(settled.Uses, b.ID)})
		}
		err := s.audit.Change(actx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
			var err error
			if first, err = s.store.MarkBudgetAlerted(ctx, b.ID, c.PeriodStart); err != nil || !first {
				return nil, err
			}
			// One record per budget and period: the mark and the record commit together.
			return []gateway.AuditEvent{{Action: gateway.AuditBudgetAlert, Actor: &gateway.AuditRef{Type: gateway.AuditActorSystem},
				Target: &gateway.AuditRef{Type: "budget", ID: b.ID}, Details: map[string]any{
					"subject_type": string(b.SubjectType), "subject": b.Subject, "period": string(b.Period),
					"period_start": c.PeriodStart.UTC().Format(time.RFC3339), "alert_percent": b.AlertPercent,
					"used_tokens": c.UsedTokens, "used_cost": c.UsedCost.String()}}}, nil
		})
		if err != nil {
			s.log.ErrorContext(ctx, "mark budget alerted", "budget", b.ID, "err", err)
			continue
		}
		s.alerted.Store(seen, struct{}{})
		if first {
			s.alerts.Inc()
			s.log.WarnContext(ctx, "budget alert", "budget", b.ID, "subject_type", b.SubjectType, "subject", b.Subject,
				"period", b.Period, "alert_percent", b.AlertPercent, "used_tokens", c.UsedTokens, "used_cost", c.UsedCost.String())
		}
	}
}

// lastRequest is the request id of the last use in uses that reserved on
// budget id.
func lastRequest(uses []gateway.SettledUse, id string) string {
	for i := len(uses) - 1; i >= 0; i-- {
		if st := uses[i].Settlement; st != nil {
			for _, r := range st.Reserved {
				if r.BudgetID == id {
					return uses[i].RequestID
				}
			}
		}
	}
	return ""
}

// acquire takes one in-flight slot of p's key and user when they have a
// max_parallel; 429 rate_limit_exceeded (Retry-After 1) when one is full.
func (s *Service) acquire(p *gateway.Principal) ([]string, error) {
	want := wantSlots(p)
	if len(want) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range want {
		if s.inFlight[w.Key] >= w.Max {
			return nil, parallelExceeded(w.Max)
		}
	}
	keys := make([]string, len(want))
	for i, w := range want {
		s.inFlight[w.Key]++
		keys[i] = w.Key
	}
	return keys, nil
}

func (s *Service) release(keys []string) {
	if len(keys) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if s.inFlight[k]--; s.inFlight[k] <= 0 {
			delete(s.inFlight, k)
		}
	}
}
