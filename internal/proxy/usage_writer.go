package proxy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
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
	// QueueSize bounds the queue; beyond it records are dropped.
	QueueSize  int
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// The defaults of UsageWriterOptions.
const (
	DefaultUsageFlushInterval = time.Second
	DefaultUsageBatchSize     = 500
	DefaultUsageQueueSize     = 65536
)

// usageLimits are the effective sizes of a UsageWriter.
type usageLimits struct {
	FlushInterval time.Duration
	BatchSize     int
	QueueSize     int
}

// UsageWriter queues usage records in a bounded channel and writes them in
// batches of up to batch_size, at least every flush_interval, from one
// background goroutine. Record never blocks: when the queue is full the
// record is dropped, counted and logged. Close drains the queue.
type UsageWriter struct {
	store    gateway.UsageStore
	cfg      usageLimits
	log      *slog.Logger
	queue    chan gateway.UsageRecord
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // cancelled when Close gives up waiting
	cancel   context.CancelFunc
	dropped  prometheus.Counter
	failed   prometheus.Counter
	written  prometheus.Counter
	mu       sync.RWMutex // guards closed against Record racing Close
	closed   bool
	dropMu   sync.Mutex
	lastDrop time.Time
}

var _ UsageRecorder = (*UsageWriter)(nil)

// NewUsageWriter starts a writer; stop it with Close.
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
		store: opt.Store, cfg: cfg, log: log,
		queue: make(chan gateway.UsageRecord, cfg.QueueSize),
		stop:  make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_dropped_total", Help: "Usage records dropped because the queue was full or the writer closed."}),
		failed:  prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_failed_total", Help: "Usage records lost because the database write failed."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_usage_records_written_total", Help: "Usage records written to the database."}),
	}
	if opt.Registerer != nil {
		opt.Registerer.MustRegister(w.dropped, w.failed, w.written)
	}
	go w.run()
	return w
}

// Record queues rec without blocking; it is dropped (and counted) when the
// queue is full or the writer is closed.
func (w *UsageWriter) Record(rec gateway.UsageRecord) {
	w.mu.RLock()
	ok := !w.closed
	if ok {
		select {
		case w.queue <- rec:
		default:
			ok = false
		}
	}
	w.mu.RUnlock()
	if !ok {
		w.drop()
	}
}

// drop counts a lost record and logs at most once a second.
func (w *UsageWriter) drop() {
	w.dropped.Inc()
	w.dropMu.Lock()
	now := time.Now()
	logIt := now.Sub(w.lastDrop) >= time.Second
	if logIt {
		w.lastDrop = now
	}
	w.dropMu.Unlock()
	if logIt {
		w.log.Warn("usage record dropped: queue full or writer closed", "queue_size", w.cfg.QueueSize)
	}
}

// Close stops accepting records and waits until every queued record is
// written. If ctx ends first, the write in progress is abandoned and ctx's
// error returned. Close is safe to call more than once.
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
	ticker := time.NewTicker(w.cfg.FlushInterval)
	defer ticker.Stop()
	batch := make([]gateway.UsageRecord, 0, w.cfg.BatchSize)
	for {
		select {
		case rec := <-w.queue:
			batch = append(batch, rec)
			if len(batch) >= w.cfg.BatchSize {
				batch = w.flush(batch)
			}
		case <-ticker.C:
			batch = w.flush(batch)
		case <-w.stop:
			// No Record can send any more (closed is set under the lock).
			for {
				select {
				case rec := <-w.queue:
					batch = append(batch, rec)
					if len(batch) >= w.cfg.BatchSize {
						batch = w.flush(batch)
					}
				default:
					w.flush(batch)
					return
				}
			}
		}
	}
}

// flush writes batch and returns it emptied for reuse.
func (w *UsageWriter) flush(batch []gateway.UsageRecord) []gateway.UsageRecord {
	if len(batch) == 0 {
		return batch
	}
	if err := w.ctx.Err(); err != nil {
		w.failed.Add(float64(len(batch)))
		return batch[:0]
	}
	if err := w.store.InsertUsage(w.ctx, batch); err != nil {
		w.failed.Add(float64(len(batch)))
		w.log.ErrorContext(w.ctx, "usage batch write failed", "records", len(batch), "err", err)
	} else {
		w.written.Add(float64(len(batch)))
	}
	clear(batch)
	return batch[:0]
}
