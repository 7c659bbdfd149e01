package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// FallbackOptions configure a Fallback.
type FallbackOptions struct {
	// Primary is the shared limiter (a *Limiter). Required.
	Primary ratelimit.Limiter
	// Local decides while Primary fails (default: a fresh ratelimit.Memory
	// on Now).
	Local ratelimit.Limiter
	// Registerer receives the fallback metrics. Required.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Now is the clock that paces probes of a failed Primary (default
	// time.Now).
	Now func() time.Time
	// ProbeInterval is how often, while degraded, one decision tries
	// Primary again (default 1s); the others go straight to Local.
	ProbeInterval time.Duration
	// Timeout bounds each call to Primary (default 500ms).
	Timeout time.Duration
}

// Fallback is a ratelimit.Limiter that uses Primary (Redis) and, when it
// fails, decides on local memory buckets: each instance then enforces the
// limits on its own. The first failure of an incident is logged once and
// counted; while degraded one decision per ProbeInterval tries Primary, and
// the first success switches back (logged once).
type Fallback struct {
	primary  ratelimit.Limiter
	local    ratelimit.Limiter
	log      *slog.Logger
	now      func() time.Time
	probe    int64
	timeout  time.Duration
	degraded atomic.Bool
	next     atomic.Int64 // UnixNano of the next probe while degraded

	decisions prometheus.Counter
	incidents prometheus.Counter
	state     prometheus.Gauge
}

// NewFallback returns a Fallback and registers its metrics:
// tollgate_ratelimit_redis_fallback_decisions_total (decisions made on
// local buckets), tollgate_ratelimit_redis_incidents_total (times Redis
// went from healthy to failing) and tollgate_ratelimit_redis_degraded (1
// while on local buckets).
func NewFallback(opt FallbackOptions) (*Fallback, error) {
	if opt.Primary == nil || opt.Registerer == nil {
		return nil, errors.New("redis fallback: Primary and Registerer are required")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Local == nil {
		opt.Local = ratelimit.NewMemory(ratelimit.MemoryOptions{Now: opt.Now})
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.ProbeInterval <= 0 {
		opt.ProbeInterval = time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 500 * time.Millisecond
	}
	f := &Fallback{
		primary: opt.Primary, local: opt.Local, log: opt.Log, now: opt.Now,
		probe: int64(opt.ProbeInterval), timeout: opt.Timeout,
		decisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_ratelimit_redis_fallback_decisions_total",
			Help: "Rate-limit decisions made on local buckets because Redis failed.",
		}),
		incidents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_ratelimit_redis_incidents_total",
			Help: "Times the Redis rate limiter went from healthy to failing.",
		}),
		state: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_ratelimit_redis_degraded",
			Help: "1 while rate limits are decided on local buckets because Redis fails.",
		}),
	}
	for _, c := range []prometheus.Collector{f.decisions, f.incidents, f.state} {
		if err := opt.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register redis fallback metrics: %w", err)
		}
	}
	return f, nil
}

// Degraded reports whether decisions are currently made locally.
func (f *Fallback) Degraded() bool { return f.degraded.Load() }

// Allow implements ratelimit.Limiter.
func (f *Fallback) Allow(ctx context.Context, key string, l ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return f.do(ctx, ratelimit.Limiter.Allow, key, l, cost)
}

// Peek implements ratelimit.Limiter.
func (f *Fallback) Peek(ctx context.Context, key string, l ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return f.do(ctx, ratelimit.Limiter.Peek, key, l, cost)
}

// Charge implements ratelimit.Limiter.
func (f *Fallback) Charge(ctx context.Context, key string, l ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return f.do(ctx, ratelimit.Limiter.Charge, key, l, cost)
}

type method func(ratelimit.Limiter, context.Context, string, ratelimit.Limit, int) (ratelimit.Result, error)

func (f *Fallback) do(ctx context.Context, call method, key string, l ratelimit.Limit, cost int) (ratelimit.Result, error) {
	var res ratelimit.Result
	err := f.either(ctx, func(ctx context.Context, lim ratelimit.Limiter) (err error) {
		res, err = call(lim, ctx, key, l, cost)
		return err
	})
	return res, err
}

// Decide implements ratelimit.BatchLimiter: one Primary call (one Redis
// round trip) for all of a request's buckets, or the local buckets.
func (f *Fallback) Decide(ctx context.Context, calls []ratelimit.Call) ([]ratelimit.Result, error) {
	var out []ratelimit.Result
	err := f.either(ctx, func(ctx context.Context, lim ratelimit.Limiter) (err error) {
		out, err = ratelimit.Decide(ctx, lim, calls)
		return err
	})
	return out, err
}

// either runs op on Primary, or on Local while degraded or when Primary
// fails.
func (f *Fallback) either(ctx context.Context, op func(context.Context, ratelimit.Limiter) error) error {
	if f.degraded.Load() && !f.claimProbe() {
		f.decisions.Inc()
		return op(ctx, f.local)
	}
	pctx, cancel := context.WithTimeout(ctx, f.timeout)
	err := op(pctx, f.primary)
	cancel()
	if err == nil {
		if f.degraded.Swap(false) {
			f.state.Set(0)
			f.log.InfoContext(ctx, "rate limit: redis recovered, using shared buckets again")
		}
		return nil
	}
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about Redis.
		return err
	}
	f.next.Store(f.now().UnixNano() + f.probe)
	if !f.degraded.Swap(true) {
		f.incidents.Inc()
		f.state.Set(1)
		f.log.WarnContext(ctx, "rate limit: redis failed, falling back to local buckets", "err", err)
	}
	f.decisions.Inc()
	return op(ctx, f.local)
}

// claimProbe reports whether this caller is the one to try Redis now.
func (f *Fallback) claimProbe() bool {
	next := f.next.Load()
	now := f.now().UnixNano()
	return now >= next && f.next.CompareAndSwap(next, now+f.probe)
}
