// Package lease keeps this instance's lease in the database: a heartbeat
// row written every interval, whose result doubles as the readiness check
// that the database accepts writes, and the sweep, on every instance, of
// pending assistant messages whose instance's lease expired (they become
// incomplete, keeping their checkpointed text).
package lease

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Options configure a Lease.
type Options struct {
	Store gateway.LeaseStore
	// ID is this instance's id ("": NewID()).
	ID string
	// Interval is how often the heartbeat is written (and the sweep runs).
	Interval time.Duration
	// Timeout is how long after its last heartbeat an instance counts as
	// gone.
	Timeout time.Duration
	// SingleProcess says one process owns the database (SQLite): every
	// other instance is gone, whatever its heartbeat.
	SingleProcess bool
	// LegacyAge is how old a pending message without an instance (written
	// before leases existed) must be to be swept; SingleProcess sweeps them
	// at once.
	LegacyAge time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// Lease is one instance's lease. It is safe for concurrent use.
type Lease struct {
	opt Options

	mu       sync.Mutex
	writeErr error // the last beat's failure, nil when it wrote
	beaten   bool
}

// NewID returns a new instance id: the host name (for operators reading
// the instances table) and 10 random characters.
func NewID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "instance"
	}
	if len(host) > 40 {
		host = host[:40]
	}
	return host + "-" + strings.ToLower(rand.Text()[:10])
}

// New returns the lease of opt.ID; nothing is written until Beat or Run.
func New(opt Options) *Lease {
	if opt.ID == "" {
		opt.ID = NewID()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Lease{opt: opt}
}

// ID is this instance's id.
func (l *Lease) ID() string { return l.opt.ID }

// Beat writes the heartbeat and sweeps the messages of gone instances,
// each bounded by the interval (at least a second). It records the result
// for WriteError and logs a change of it once.
func (l *Lease) Beat(ctx context.Context) error {
	d := max(l.opt.Interval, time.Second)
	bctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	now := l.opt.Now()
	err := l.opt.Store.Heartbeat(bctx, l.opt.ID, now)
	if err == nil {
		expired, legacy := now.Add(-l.opt.Timeout), now.Add(-l.opt.LegacyAge)
		if l.opt.SingleProcess {
			expired, legacy = now.Add(time.Second), now.Add(time.Second)
		}
		var n int64
		n, err = l.opt.Store.SweepOrphanedMessages(bctx, l.opt.ID, expired, legacy)
		if n > 0 {
			l.opt.Log.WarnContext(ctx, "marked assistant messages of instances that are gone as incomplete (their checkpointed text is kept)", "count", n)
		}
		if err != nil {
			err = fmt.Errorf("sweep pending messages: %w", err)
		}
	}
	l.record(ctx, err)
	return err
}

func (l *Lease) record(ctx context.Context, err error) {
	l.mu.Lock()
	prev, first := l.writeErr, !l.beaten
	l.writeErr, l.beaten = err, true
	l.mu.Unlock()
	switch {
	case err != nil && (first || prev == nil):
		l.opt.Log.ErrorContext(ctx, "database does not accept writes: not ready; serving reads and retrying every heartbeat",
			"instance", l.opt.ID, "retry_every", l.opt.Interval.String(), "err", err)
	case err == nil && prev != nil:
		l.opt.Log.InfoContext(ctx, "database accepts writes again", "instance", l.opt.ID)
	}
}

// WriteError is the result of the last beat: nil when the heartbeat and
// the sweep were written, else why not (and before the first beat, an
// error saying so).
func (l *Lease) WriteError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.beaten {
		return fmt.Errorf("no heartbeat written yet")
	}
	return l.writeErr
}

// Run beats every interval until ctx ends.
func (l *Lease) Run(ctx context.Context) {
	t := time.NewTicker(l.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.Beat(ctx)
		}
	}
}

// Release deletes the lease (a clean shutdown, once every reply of this
// instance is finished).
func (l *Lease) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(l.opt.Interval, time.Second))
	defer cancel()
	return l.opt.Store.RemoveInstance(ctx, l.opt.ID)
}
