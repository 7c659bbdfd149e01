package auth

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// errStale is the logged cause of a decision refused for staleness.
var errStale = errors.New("credential cache out of sync with the database for longer than auth.cache_max_staleness")

// Freshness bounds how long the credential caches (API keys, users) are
// trusted while they cannot sync with the database (auth.
// cache_max_staleness). Changes reach the caches by push at commit and by
// the poll of Service.Run; a cached entry is known current up to the
// later of the last successful poll and the time it was read from the
// database. Past Max after that, the entry is refused with 503 not_ready
// (fail closed) instead of being trusted; the first refusal of an outage
// is logged, and so is the recovery.
type Freshness struct {
	max    time.Duration
	log    *slog.Logger
	now    func() time.Time
	synced atomic.Int64 // Unix ns: start of the last successful sync
	stale  atomic.Bool  // a refusal was logged and no sync succeeded since
}

// NewFreshness returns a tracker that trusts entries for max past their
// last sync (max <= 0: forever), logging to log; the caches count as
// synced now.
func NewFreshness(max time.Duration, log *slog.Logger) *Freshness {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Freshness{max: max, log: log, now: time.Now}
	f.synced.Store(f.now().UnixNano())
	return f
}

// Synced records a successful sync that read every change committed
// before start.
func (f *Freshness) Synced(start time.Time) {
	if f == nil {
		return
	}
	if n := start.UnixNano(); n > f.synced.Load() {
		f.synced.Store(n)
	}
	if f.stale.CompareAndSwap(true, false) {
		f.log.Info("credential cache in sync with the database again; cached credentials are accepted")
	}
}

// stamp is the time an entry read from the database now is current at.
func (f *Freshness) stamp() int64 {
	if f == nil {
		return 0
	}
	return f.now().UnixNano()
}

// check returns nil when an entry read from the database at loaded (Unix
// ns) may still be trusted, else the 503 not_ready error.
func (f *Freshness) check(ctx context.Context, loaded int64) error {
	if f == nil || f.max <= 0 {
		return nil
	}
	known := max(f.synced.Load(), loaded)
	now := f.now().UnixNano()
	if now-known <= int64(f.max) {
		return nil
	}
	if f.stale.CompareAndSwap(false, true) {
		f.log.ErrorContext(ctx, "credential cache cannot sync with the database; refusing cached credentials not verified within auth.cache_max_staleness (fail closed)",
			"last_sync", time.Unix(0, f.synced.Load()).UTC().Format(time.RFC3339Nano), "max_staleness", f.max.String())
	}
	return gateway.UnavailableError(errStale)
}
