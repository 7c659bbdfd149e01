package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/spool"
)

// UsageRecorder takes usage records off the request path.
type UsageRecorder interface {
	// Record queues rec and returns at once.
	Record(rec gateway.UsageRecord)
}

// UsageWriterOptions configure a UsageWriter (usage.* in config). Zero
// values take the defaults: one second, 500 records, 65536 records.
type UsageWriterOptions struct {
	Store gateway.UsageStore
	// FlushInterval is the longest a record waits in the queue.
	FlushInterval time.Duration
	// BatchSize is the most records one write takes.
	BatchSize int
	// QueueSize bounds the in-memory queue; beyond it records go to the
	// spool only.
	QueueSize int
	// SpoolDir is the write-ahead spool (<data_dir>/spool); "" keeps
	// records in memory only (a crash loses the queue).
	SpoolDir string
	// OnSettled, when set, gets what each written batch settled (the
	// budget settlements records carry, applied by a
	// gateway.SettlingUsageStore in the batch's transaction), after the
	// commit; *budget.Service.Settled is one.
	OnSettled  func(ctx context.Context, settled gateway.BudgetSettled)
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// The defaults of UsageWriterOptions.
const (
	DefaultUsageFlushInterval = time.Second
	DefaultUsageBatchSize     = 500
	DefaultUsageQueueSize     = 65536
)

// Retry and spool tuning of a UsageWriter.
const (
	usageRetryMin      = 100 * time.Millisecond
	usageRetryMax      = 5 * time.Second
	usageAttemptLimit  = 10 * time.Second // one insert attempt's deadline
	usageSegmentRecord = 50000            // records per memory-mode segment
	// usageSettleWindow is the group-commit window of budget settlements:
	// a record carrying one is written at once, unless the last such
	// write was less than this ago; then it waits out the window with
	// every record that arrives meanwhile (one transaction for many
	// requests, not one each, which would contend with their admissions
	// for SQLite's writer).
	usageSettleWindow = 50 * time.Millisecond
)

// usageLimits are the effective sizes of a UsageWriter.
type usageLimits struct {
	FlushInterval time.Duration
	BatchSize     int
	QueueSize     int
}

// queued is a record in memory and the spool segment that also holds it
// (0: none, the spool write failed).
type queued struct {
	rec gateway.UsageRecord
	seg uint64
}

// segment is the writer's bookkeeping of one spool segment.
type segment struct {
	pending  int  // memory-mode: records not yet in the database
	diskOnly bool // its records are not in memory: replay from the file
}

// UsageWriter writes usage records to the store in batches of up to
// batch_size, at least every flush_interval, from one background
// goroutine, and never loses one to a database outage or a crash:
//
//   - Record appends the record to the spool (one write, so it survives
//     SIGKILL) and queues it in memory; it never blocks on the database.
//   - A failed batch is retried with backoff (100 ms doubling to 5 s), in
//     order, until it is written; meanwhile records keep queueing.
//   - When the queue is full, records go to the spool only (spooled) and
//     are replayed from it once the queue has drained (replayed).
//   - A segment whose records are all in the database is removed; a new
//     process replays every segment it finds (inserts are idempotent by
//     record id, so nothing counts twice).
//
// A record is dropped only when both the spool and the queue refuse it
// (the spool's disk is full and the database is down), which is logged at
// error level. Close drains what it can and leaves the rest on disk.
type UsageWriter struct {
	store     gateway.UsageStore
	settling  gateway.SettlingUsageStore // store, when it settles budgets
	onSettled func(context.Context, gateway.BudgetSettled)
	cfg       usageLimits
	log       *slog.Logger
	sp        *spool.Spool // nil: memory only

	mu       sync.Mutex
	queue    []queued
	segs     map[uint64]*segment
	overflow bool // new records go to the spool only, until it is replayed
	closed   bool
	spoolErr time.Time // last spool failure logged
	dropLog  time.Time // last drop logged

	wake   chan struct{} // a full batch is waiting
	urgent chan struct{} // a budget settlement is waiting: write what is queued now
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc

	queuedG  prometheus.Gauge
	spooled  prometheus.Counter
	replayed prometheus.Counter
	dropped  prometheus.Counter
	failed   prometheus.Counter
	written  prometheus.Counter
}

var _ UsageRecorder = (*UsageWriter)(nil)

// NewUsageWriter starts a writer; stop it with Close. With a SpoolDir it
// first takes over the segments an earlier process left (replayed before
// new records); a spool that cannot be opened is logged and the writer
// runs from memory.
func NewUsageWriter(opt UsageWriterOptions) *UsageWriter {
	cfg := usageLimits{FlushInterval: opt.FlushInterval, BatchSize: opt.BatchSize, QueueSize: opt.QueueSize}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultUsageFlushInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultUsageBatchSize
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultUsageQueueSize
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &UsageWriter{
		store: opt.Store, onSettled: opt.OnSettled, cfg: cfg, log: log, segs: map[uint64]*segment{},
		wake: make(chan struct{}, 1), urgent: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		queuedG:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "tollgate_usage_records_queued", Help: "Usage records waiting to be written (in memory and spool-only)."}),
		spooled:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_spooled_total", Help: "Usage records kept in the spool only because the queue was full."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_replayed_total", Help: "Usage records written from the spool (overflow or an earlier run)."}),
		dropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_dropped_total", Help: "Usage records lost because both the spool and the queue refused them."}),
		failed:   prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_write_failures_total", Help: "Failed usage batch writes (each is retried)."}),
		written:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_written_total", Help: "Usage records written to the database."}),
	}
	w.settling, _ = opt.Store.(gateway.SettlingUsageStore)
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(w.queuedG, w.spooled, w.replayed, w.dropped, w.failed, w.written)
	}
	if opt.SpoolDir != "" {
		sp, old, err := spool.Open(opt.SpoolDir)
		if err != nil {
			log.Error("usage spool unavailable: usage records are kept in memory only", "dir", opt.SpoolDir, "err", err)
		} else {
			w.sp = sp
			for _, seq := range old {
				w.segs[seq] = &segment{diskOnly: true}
			}
			if len(old) > 0 {
				// Records of the earlier run go first.
				w.overflow = true
				w.segs[w.currentSeg()] = &segment{diskOnly: true}
				log.Info("usage spool holds records of an earlier run; replaying", "segments", len(old))
				w.wake <- struct{}{} // replay at once, not at the first flush
			}
		}
	}
	go w.run()
	return w
}

func (w *UsageWriter) currentSeg() uint64 {
	seq, _ := w.sp.Current()
	return seq
}

// newRecordID is a unique id that sorts by time: 16 hex digits of Unix
// nanoseconds and 16 random ones.
func newRecordID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// Record spools and queues rec without waiting on the database.
func (w *UsageWriter) Record(rec gateway.UsageRecord) {
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	if rec.ID == "" {
		rec.ID = newRecordID(rec.CreatedAt)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.dropLocked(rec, "writer closed")
		return
	}
	if w.sp != nil && (w.overflow || len(w.queue) >= w.cfg.QueueSize) {
		if !w.overflow {
			// From here on records live in the spool only, in segments of
			// their own, until they are replayed.
			w.overflow = true
			w.rotateLocked()
			w.segs[w.currentSeg()] = &segment{diskOnly: true}
			w.log.Warn("usage queue full: records go to the spool until the database catches up", "queue_size", w.cfg.QueueSize)
		}
		if seq, err := w.sp.Append(encodeUsage(rec)); err == nil {
			if st := w.segs[seq]; st != nil {
				st.pending++
			}
			w.spooled.Inc()
			w.queuedG.Inc()
			return
		} else {
			w.spoolFailedLocked(err)
		}
	}
	if len(w.queue) >= w.cfg.QueueSize {
		w.dropLocked(rec, "queue full")
		return
	}
	var seg uint64
	if w.sp != nil && !w.overflow {
		if s, err := w.sp.Append(encodeUsage(rec)); err != nil {
			w.spoolFailedLocked(err)
		} else {
			seg = s
			st := w.segs[seg]
			if st == nil {
				st = &segment{}
				w.segs[seg] = st
			}
			st.pending++
			if _, n := w.sp.Current(); n >= usageSegmentRecord {
				w.rotateLocked()
			}
		}
	}
	w.queue = append(w.queue, queued{rec: rec, seg: seg})
	w.queuedG.Inc()
	wake := w.wake
	switch {
	case rec.Settlement != nil:
		// A budget reservation holds its worst case until this record is
		// written: write at once (records that queue up meanwhile join
		// the next batch).
		wake = w.urgent
	case len(w.queue) < w.cfg.BatchSize:
		return
	}
	select {
	case wake <- struct{}{}:
	default:
	}
}

// rotateLocked closes the current segment and removes it at once when it
// holds no pending record.
func (w *UsageWriter) rotateLocked() {
	seq, _, err := w.sp.Rotate()
	if err != nil {
		w.spoolFailedLocked(err)
	}
	w.releaseLocked(seq)
}

// releaseLocked removes segment seq once it is closed and all its records
// are in the database.
func (w *UsageWriter) releaseLocked(seq uint64) {
	st := w.segs[seq]
	if st == nil || st.diskOnly || st.pending > 0 || seq == w.currentSeg() {
		return
	}
	delete(w.segs, seq)
	if err := w.sp.Remove(seq); err != nil {
		w.log.Error("usage spool: remove written segment", "segment", seq, "err", err)
	}
}

// spoolFailedLocked logs a spool failure at most once a second.
func (w *UsageWriter) spoolFailedLocked(err error) {
	if now := time.Now(); now.Sub(w.spoolErr) >= time.Second {
		w.spoolErr = now
		w.log.Error("usage spool write failed: records are kept in memory only", "err", err)
	}
}

// dropLocked counts a lost record and logs it loudly (at most once a
// second, with what was lost).
func (w *UsageWriter) dropLocked(rec gateway.UsageRecord, why string) {
	w.dropped.Inc()
	if now := time.Now(); now.Sub(w.dropLog) >= time.Second {
		w.dropLog = now
		w.log.Error("USAGE RECORD DROPPED: spool and queue cannot take it", "reason", why,
			"request_id", rec.RequestID, "queue_size", w.cfg.QueueSize)
	}
}

// Close stops accepting records and writes what is queued. If ctx ends
// first, it stops retrying and returns ctx's error; records not written
// stay in the spool for the next start. Close is safe to call more than
// once.
func (w *UsageWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return ctx.Err()
	}
}

func (w *UsageWriter) run() {
	defer close(w.done)
	defer w.cancel()
	defer w.closeSpool()
	ticker := time.NewTicker(w.cfg.FlushInterval)
	defer ticker.Stop()
	var lastSettle time.Time
	for {
		stopping, all := false, true
		select {
		case <-w.wake:
			all = false
		case <-w.urgent:
			if wait := time.Until(lastSettle.Add(usageSettleWindow)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-w.stop:
					stopping = true
				}
				t.Stop()
			}
			lastSettle = time.Now()
		case <-ticker.C:
		case <-w.stop:
			stopping = true
		}
		if !w.drain(all) {
			return
		}
		if stopping {
			return
		}
	}
}

// drain writes the memory queue in batches (only full ones unless all),
// then the spool-only records once the queue is empty. It returns false
// when Close gave up.
func (w *UsageWriter) drain(all bool) bool {
	if w.sp != nil {
		if err := w.sp.Sync(); err != nil {
			w.log.Error("usage spool sync failed", "err", err)
		}
	}
	for {
		w.mu.Lock()
		n := min(len(w.queue), w.cfg.BatchSize)
		if n < w.cfg.BatchSize && !all {
			n = 0
		}
		batch := make([]gateway.UsageRecord, n)
		for i := range n {
			batch[i] = w.queue[i].rec
		}
		w.mu.Unlock()
		if n == 0 {
			break
		}
		if !w.insert(batch) {
			return false
		}
		w.mu.Lock()
		for _, q := range w.queue[:n] {
			if st := w.segs[q.seg]; q.seg != 0 && st != nil {
				st.pending--
				w.releaseLocked(q.seg)
			}
		}
		w.queue = append(w.queue[:0], w.queue[n:]...)
		w.queuedG.Sub(float64(n))
		w.written.Add(float64(n))
		w.mu.Unlock()
	}
	return w.replay()
}

// replay writes the spool-only segments, oldest first, while the memory
// queue is empty, and leaves overflow mode when none is left.
func (w *UsageWriter) replay() bool {
	for {
		w.mu.Lock()
		if !w.overflow || len(w.queue) > 0 {
			w.mu.Unlock()
			return true
		}
		if !w.spoolOnlyLeftLocked() {
			// Nothing left but the empty current segment: back to
			// write-ahead mode.
			w.overflow = false
			w.segs[w.currentSeg()].diskOnly = false
			w.mu.Unlock()
			w.log.Info("usage spool replayed; records are queued in memory again")
			return true
		}
		seq, _, err := w.sp.Rotate()
		if err != nil {
			w.spoolFailedLocked(err)
		}
		w.segs[w.currentSeg()] = &segment{diskOnly: true}
		var todo []uint64
		for s, st := range w.segs {
			if st.diskOnly && s <= seq {
				todo = append(todo, s)
			}
		}
		w.mu.Unlock()
		slices.Sort(todo)
		for _, s := range todo {
			if !w.replaySegment(s) {
				return false
			}
		}
	}
}

// replaySegment writes one spool-only segment and removes it.
func (w *UsageWriter) replaySegment(seq uint64) bool {
	payloads, torn, err := w.sp.ReadSegment(seq)
	if err != nil {
		w.log.Error("usage spool: read segment", "segment", seq, "err", err)
		return w.waitRetry(usageRetryMax)
	}
	if torn {
		w.log.Warn("usage spool: segment ends in a torn record (a crash mid-write); replaying the whole ones", "segment", seq, "records", len(payloads))
	}
	recs := make([]gateway.UsageRecord, 0, len(payloads))
	for _, p := range payloads {
		rec, err := decodeUsage(p)
		if err != nil {
			w.log.Error("usage spool: undecodable record skipped", "segment", seq, "err", err)
			continue
		}
		recs = append(recs, rec)
	}
	for start := 0; start < len(recs); start += w.cfg.BatchSize {
		batch := recs[start:min(start+w.cfg.BatchSize, len(recs))]
		if !w.insert(batch) {
			return false
		}
		w.replayed.Add(float64(len(batch)))
		w.written.Add(float64(len(batch)))
	}
	w.mu.Lock()
	if st := w.segs[seq]; st != nil {
		w.queuedG.Sub(float64(st.pending)) // the records this run spooled
	}
	delete(w.segs, seq)
	w.mu.Unlock()
	if err := w.sp.Remove(seq); err != nil {
		w.log.Error("usage spool: remove replayed segment", "segment", seq, "err", err)
	}
	return true
}

// insert writes batch, retrying with backoff until it succeeds; false when
// Close gave up first.
func (w *UsageWriter) insert(batch []gateway.UsageRecord) bool {
	wait := usageRetryMin
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		if w.ctx.Err() != nil {
			return false
		}
		ctx, cancel := context.WithTimeout(w.ctx, usageAttemptLimit)
		settled, err := w.write(ctx, batch)
		cancel()
		if err == nil {
			if len(settled.Uses) > 0 && w.onSettled != nil {
				ctx, cancel := context.WithTimeout(w.ctx, usageAttemptLimit)
				w.onSettled(ctx, settled)
				cancel()
			}
			if attempt > 1 {
				w.log.Info("usage batch written after retries", "records", len(batch), "attempts", attempt)
			}
			return true
		}
		w.failed.Inc()
		if now := time.Now(); now.Sub(lastLog) >= 5*time.Second {
			lastLog = now
			w.log.Error("usage batch write failed; retrying", "records", len(batch), "attempt", attempt, "err", err)
		}
		if !w.waitRetry(wait) {
			return false
		}
		wait = min(2*wait, usageRetryMax)
	}
}

// write inserts batch, settling the budget settlements its records carry
// when the store can.
func (w *UsageWriter) write(ctx context.Context, batch []gateway.UsageRecord) (gateway.BudgetSettled, error) {
	if w.settling != nil {
		return w.settling.InsertUsageSettling(ctx, batch)
	}
	return gateway.BudgetSettled{}, w.store.InsertUsage(ctx, batch)
}

// waitRetry sleeps d unless Close gives up first.
func (w *UsageWriter) waitRetry(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// spoolOnlyLeftLocked says whether a spool-only record is still to be
// replayed: a spool-only segment other than the current one, or records in
// the current one.
func (w *UsageWriter) spoolOnlyLeftLocked() bool {
	cur, n := w.sp.Current()
	if n > 0 {
		return true
	}
	for seq, st := range w.segs {
		if st.diskOnly && seq != cur {
			return true
		}
	}
	return false
}

// closeSpool accounts for what Close leaves behind and closes the spool.
func (w *UsageWriter) closeSpool() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) > 0 {
		lost := 0
		for _, q := range w.queue {
			if q.seg == 0 {
				lost++
			}
		}
		if lost > 0 {
			w.dropped.Add(float64(lost))
			w.log.Error("USAGE RECORDS DROPPED at shutdown: not in the database nor the spool", "records", lost)
		}
		if left := len(w.queue) - lost; left > 0 {
			w.log.Warn("usage records left in the spool for the next start", "records", left)
		}
	}
	if w.sp == nil {
		return
	}
	if w.overflow {
		w.log.Warn("usage records left in the spool for the next start", "spool_only", true)
	}
	if err := w.sp.Close(); err != nil {
		w.log.Error("usage spool close", "err", err)
	}
	for seq, st := range w.segs {
		if !st.diskOnly && st.pending == 0 {
			if err := w.sp.Remove(seq); err != nil {
				w.log.Error("usage spool: remove written segment", "segment", seq, "err", err)
			}
		}
	}
}
