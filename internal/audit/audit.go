// Package audit is the audit log service (SPEC 8.1): it turns the events
// callers report into hash-chained records, appends them in the caller's
// transaction (Change), records decisions that change nothing (Record),
// records failed logins off the request path at a bounded rate
// (FailedLogin) and prunes records after the retention.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Options configure a Service.
type Options struct {
	Store gateway.AuditStore
	Log   *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// MaxFailedLoginsPerMinute is audit.max_failed_login_records_per_minute:
	// failed logins beyond it in one minute are counted, not stored, and one
	// auth.login_failed_dropped record per minute says how many.
	MaxFailedLoginsPerMinute int
	// Retention is audit.retention (0: keep forever).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the audit service; it implements gateway.Auditor.
type Service struct {
	store     gateway.AuditStore
	log       *slog.Logger
	now       func() time.Time
	retention time.Duration
	maxFailed int

	records *prometheus.CounterVec
	dropped prometheus.Counter

	failed  chan *gateway.AuditRecord
	flushMu sync.Mutex

	mu          sync.Mutex
	minute      time.Time // the minute the counters below belong to
	failedCount int
	droppedN    int
	summaries   []*gateway.AuditRecord // dropped counts of ended minutes, for Flush
}

// New returns a Service. Call Run to write failed logins and prune.
func New(o Options) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxFailedLoginsPerMinute <= 0 {
		o.MaxFailedLoginsPerMinute = 600
	}
	s := &Service{
		store: o.Store, log: o.Log, now: o.Now, retention: o.Retention, maxFailed: o.MaxFailedLoginsPerMinute,
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_audit_records_total",
			Help: "Audit records written, by action and outcome."}, []string{"action", "outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_audit_failed_logins_dropped_total",
			Help: "Failed logins not recorded one by one because audit.max_failed_login_records_per_minute was reached."}),
		failed: make(chan *gateway.AuditRecord, o.MaxFailedLoginsPerMinute),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.records, s.dropped} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("audit metrics: %w", err)
			}
		}
	}
	return s, nil
}

// secretDetail reports detail keys that must never be stored, whatever a
// caller passes: a second line of defence behind the call sites.
func secretDetail(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"password", "secret", "token", "cookie", "session_id", "code", "hash", "csrf"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "key"
}

// build turns ev into a record with the request's actor, ip, user agent
// and request id.
func (s *Service) build(ctx context.Context, ev gateway.AuditEvent) *gateway.AuditRecord {
	r := &gateway.AuditRecord{Action: ev.Action, Target: ev.Target, Outcome: ev.Outcome, At: s.now()}
	if r.Outcome == "" {
		r.Outcome = gateway.AuditOutcomeSuccess
	}
	m := gateway.RequestMetaFrom(ctx)
	p := gateway.PrincipalFrom(ctx)
	switch {
	case ev.Actor != nil:
		r.Actor = *ev.Actor
	case p == nil && m.RequestID == "": // not a request: the CLI or a background job
		r.Actor = gateway.AuditRef{Type: gateway.AuditActorSystem}
	default:
		r.Actor = Actor(p)
	}
	r.IP, r.UserAgent, r.RequestID = m.IP, m.UserAgent, m.RequestID
	details := map[string]any{}
	for k, v := range ev.Details {
		if !secretDetail(k) {
			details[k] = v
		}
	}
	r.Details, _ = json.Marshal(details)
	return r
}

// Actor is the audit actor of a principal.
func Actor(p *gateway.Principal) gateway.AuditRef {
	switch {
	case p == nil || p.Kind == gateway.PrincipalAnonymous:
		return gateway.AuditRef{Type: gateway.AuditActorAnonymous}
	case p.KeyID != "":
		return gateway.AuditRef{Type: gateway.AuditActorKey, ID: p.KeyID}
	case p.Kind == gateway.PrincipalStatic:
		return gateway.AuditRef{Type: gateway.AuditActorStatic, ID: p.StaticName}
	case p.Kind == gateway.PrincipalLocal:
		return gateway.AuditRef{Type: gateway.AuditActorUser, ID: gateway.LocalUserID}
	}
	return gateway.AuditRef{Type: gateway.AuditActorUser, ID: p.UserID}
}

func (s *Service) count(recs []*gateway.AuditRecord) {
	for _, r := range recs {
		s.records.WithLabelValues(r.Action, r.Outcome).Inc()
	}
}

// Change runs fn in one transaction and appends the records of the events
// it returns in that transaction: when fn or the append fails, nothing of
// the change stays.
func (s *Service) Change(ctx context.Context, fn func(ctx context.Context) ([]gateway.AuditEvent, error)) error {
	var recs []*gateway.AuditRecord
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		evs, err := fn(ctx)
		if err != nil {
			return err
		}
		recs = recs[:0]
		for _, ev := range evs {
			recs = append(recs, s.build(ctx, ev))
		}
		if err := s.store.AppendAudit(ctx, recs); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.count(recs)
	return nil
}

// Record appends the record of a decision that changes nothing; inside a
// Change's transaction it joins it. A failure is logged.
func (s *Service) Record(ctx context.Context, ev gateway.AuditEvent) {
	r := s.build(ctx, ev)
	if err := s.store.AppendAudit(ctx, []*gateway.AuditRecord{r}); err != nil {
		s.log.ErrorContext(ctx, "audit record failed", "action", ev.Action, "err", err)
		return
	}
	s.count([]*gateway.AuditRecord{r})
}

// FailedLogin queues an auth.login_failed record (email as given) for Run
// to write. Beyond MaxFailedLoginsPerMinute in the current minute, or
// when the queue is full, the attempt is only counted.
func (s *Service) FailedLogin(ctx context.Context, email string, details map[string]any) {
	d := map[string]any{"email": email}
	for k, v := range details {
		d[k] = v
	}
	r := s.build(ctx, gateway.AuditEvent{Action: gateway.AuditLoginFailed, Outcome: gateway.AuditOutcomeFailure,
		Actor: &gateway.AuditRef{Type: gateway.AuditActorAnonymous}, Details: d})
	s.mu.Lock()
	s.rollMinute()
	ok := s.failedCount < s.maxFailed
	if ok {
		select {
		case s.failed <- r:
			s.failedCount++
		default:
			ok = false
		}
	}
	if !ok {
		s.droppedN++
	}
	s.mu.Unlock()
	if !ok {
		s.dropped.Inc()
	}
}

// rollMinute starts a new minute's counters; the caller holds mu. The
// dropped count of the minute that ended is queued as one summary record
// (it is written even when the queue is full: at most one per minute).
func (s *Service) rollMinute() {
	m := s.now().UTC().Truncate(time.Minute)
	if m.Equal(s.minute) {
		return
	}
	if s.droppedN > 0 && !s.minute.IsZero() {
		r := s.build(context.Background(), gateway.AuditEvent{Action: gateway.AuditLoginFailedDropped, Outcome: gateway.AuditOutcomeFailure,
			Actor:   &gateway.AuditRef{Type: gateway.AuditActorSystem},
			Details: map[string]any{"dropped": s.droppedN, "minute": s.minute.Format(time.RFC3339)}})
		s.summaries = append(s.summaries, r)
	}
	s.minute, s.failedCount, s.droppedN = m, 0, 0
}

func (s *Service) write(ctx context.Context, recs []*gateway.AuditRecord) {
	if err := s.store.AppendAudit(ctx, recs); err != nil {
		s.log.Error("audit record failed", "action", recs[0].Action, "err", err)
		return
	}
	s.count(recs)
}

// Flush writes every queued failed login and the dropped summary of a
// minute that has ended (Run calls it; tests call it directly).
func (s *Service) Flush(ctx context.Context) {
	// One flush at a time: a Flush returns only once every record queued
	// before it is written, also when Run's flush took them.
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	var batch []*gateway.AuditRecord
	for {
		select {
		case r := <-s.failed:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	if len(batch) > 0 {
		s.write(ctx, batch)
	}
	s.mu.Lock()
	s.rollMinute()
	batch, s.summaries = s.summaries, nil
	s.mu.Unlock()
	if len(batch) > 0 {
		s.write(ctx, batch)
	}
}

// Prune deletes records older than the retention (none when it is 0).
func (s *Service) Prune(ctx context.Context) (int64, error) {
	if s.retention <= 0 {
		return 0, nil
	}
	return s.store.PruneAudit(ctx, s.now().Add(-s.retention))
}

// Run writes queued failed logins every second and prunes every hour
// until ctx ends, then writes what is still queued.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			s.Flush(context.WithoutCancel(ctx))
			return
		case <-tick.C:
			s.Flush(ctx)
			if time.Since(lastPrune) > time.Hour {
				lastPrune = time.Now()
				if n, err := s.Prune(ctx); err != nil && !errors.Is(err, context.Canceled) {
					s.log.Error("audit prune failed", "err", err)
				} else if n > 0 {
					s.log.Info("audit records pruned", "count", n)
				}
			}
		}
	}
}

var _ gateway.Auditor = (*Service)(nil)

// DroppedMetric is the counter of failed logins not recorded one by one.
func (s *Service) DroppedMetric() prometheus.Counter { return s.dropped }
