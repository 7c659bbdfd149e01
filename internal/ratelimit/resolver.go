package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// PolicySource is the part of gateway.RateLimitStore the Resolver reads.
type PolicySource interface {
	ListRateLimitPolicies(ctx context.Context) ([]gateway.RateLimitPolicy, error)
	ListRateLimitAssignments(ctx context.Context) ([]gateway.RateLimitAssignment, error)
}

// MaxRefreshInterval is the longest refresh interval: SPEC section 5 wants
// policy changes effective on every instance within 5 seconds.
const MaxRefreshInterval = 5 * time.Second

// ResolverOptions configure a Resolver.
type ResolverOptions struct {
	Source  PolicySource
	Default gateway.RateLimitPolicy // from rate_limit.default; Name defaults to "default"
	// Interval between reloads (default 2s, at most MaxRefreshInterval).
	Interval time.Duration
	Log      *slog.Logger
}

// Resolver holds the current Policies snapshot and reloads it from the
// database on an interval, so changes made through any instance take
// effect on all of them within Interval.
type Resolver struct {
	src      PolicySource
	def      gateway.RateLimitPolicy
	interval time.Duration
	log      *slog.Logger
	cur      atomic.Pointer[Policies]
	failing  atomic.Bool
}

// NewResolver returns a Resolver whose snapshot holds only the default
// policy until the first Refresh.
func NewResolver(opt ResolverOptions) *Resolver {
	if opt.Interval <= 0 {
		opt.Interval = 2 * time.Second
	}
	opt.Interval = min(opt.Interval, MaxRefreshInterval)
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{src: opt.Source, def: opt.Default, interval: opt.Interval, log: opt.Log}
	r.cur.Store(NewPolicies(opt.Default, nil, nil))
	return r
}

// Policies returns the current snapshot.
func (r *Resolver) Policies() *Policies { return r.cur.Load() }

// Refresh reloads policies and assignments. On error the previous snapshot
// stays in force.
func (r *Resolver) Refresh(ctx context.Context) error {
	if r.src == nil {
		return nil
	}
	ps, err := r.src.ListRateLimitPolicies(ctx)
	if err != nil {
		return fmt.Errorf("refresh rate limit policies: %w", err)
	}
	as, err := r.src.ListRateLimitAssignments(ctx)
	if err != nil {
		return fmt.Errorf("refresh rate limit assignments: %w", err)
	}
	r.cur.Store(NewPolicies(r.def, ps, as))
	return nil
}

// Run refreshes at once and then every interval until ctx ends. A failing
// refresh is logged once per incident, and its recovery once.
func (r *Resolver) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		err := r.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !r.failing.Swap(true):
			r.log.WarnContext(ctx, "rate limit policies: reload failed, keeping the previous ones", "err", err)
		case err == nil && r.failing.Swap(false):
			r.log.InfoContext(ctx, "rate limit policies: reload recovered")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
