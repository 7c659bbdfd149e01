package proxy_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// flakyStore passes inserts to a real store except while down is set
// (each refused attempt is counted), and notes the request ids of every
// batch it writes, in order.
type flakyStore struct {
	gateway.UsageStore
	mu      sync.Mutex
	down    bool
	refused int
	ids     []string
}

func (s *flakyStore) setDown(v bool) { s.mu.Lock(); s.down = v; s.mu.Unlock() }

func (s *flakyStore) InsertUsage(ctx context.Context, recs []gateway.UsageRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		s.refused++
		return errors.New("database is down")
	}
	if err := s.UsageStore.InsertUsage(ctx, recs); err != nil {
		return err
	}
	for _, r := range recs {
		s.ids = append(s.ids, r.RequestID)
	}
	return nil
}

func reqRec(i int) gateway.UsageRecord {
	r := usageRec(i)
	r.RequestID = fmt.Sprintf("req-%04d", i)
	return r
}

// countedStore is a migrated SQLite store and a second connection to its
// file for counting rows.
type countedStore struct {
	*sqlstore.Store
	db *sql.DB
}

func newCountedStore(t *testing.T) countedStore {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tollgate.db")
	sqltest.WriteMigratedSQLite(t, p)
	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return countedStore{Store: sqltest.Open(t, "sqlite://"+p), db: db}
}

// requestCounts is the number of stored rows per request id.
func requestCounts(t *testing.T, st countedStore) map[string]int {
	t.Helper()
	rows, err := st.db.Query(`SELECT request_id, COUNT(*) FROM usage_records GROUP BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	return out
}

// wantEachOnce fails unless exactly the request ids req-0000..req-(n-1)
// are stored, each once.
func wantEachOnce(t *testing.T, st countedStore, n int) {
	t.Helper()
	want := map[string]int{}
	for i := range n {
		want[fmt.Sprintf("req-%04d", i)] = 1
	}
	if diff := cmp.Diff(want, requestCounts(t, st)); diff != "" {
		t.Fatalf("rows per request id (-want +got):\n%s", diff)
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUsageWriterRetriesInOrder: while the database refuses writes the
// batch is retried and later records wait behind it; afterwards every
// record is stored once, in the order recorded, and nothing is dropped.
func TestUsageWriterRetriesInOrder(t *testing.T) {
	st := newCountedStore(t)
	fs := &flakyStore{UsageStore: st, down: true}
	reg := prometheus.NewRegistry()
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: fs, Registerer: reg, SpoolDir: filepath.Join(t.TempDir(), "spool"),
		FlushInterval: 10 * time.Millisecond, BatchSize: 4, QueueSize: 1000})
	for i := range 10 {
		w.Record(reqRec(i))
	}
	waitFor(t, "two refused attempts", func() bool { fs.mu.Lock(); defer fs.mu.Unlock(); return fs.refused >= 2 })
	for i := 10; i < 20; i++ {
		w.Record(reqRec(i))
	}
	if got := metric(t, reg, "tollgate_usage_records_queued"); got != 20 {
		t.Fatalf("queued = %v, want 20", got)
	}
	fs.setDown(false)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantEachOnce(t, st, 20)
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("req-%04d", i))
	}
	if diff := cmp.Diff(want, fs.ids); diff != "" {
		t.Fatalf("write order (-want +got):\n%s", diff)
	}
	for name, want := range map[string]float64{"tollgate_usage_records_dropped_total": 0, "tollgate_usage_records_written_total": 20,
		"tollgate_usage_records_queued": 0, "tollgate_usage_records_spooled_total": 0} {
		if got := metric(t, reg, name); got != want {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metric(t, reg, "tollgate_usage_write_failures_total"); got < 2 {
		t.Fatalf("write failures = %v, want >= 2", got)
	}
}

// TestUsageWriterSpillsToSpool: with the database down and the queue
// full, records go to the spool only (spooled); when the database is back
// they are replayed after the queue, each stored once, and the spool's
// segments are removed.
func TestUsageWriterSpillsToSpool(t *testing.T) {
	st := newCountedStore(t)
	fs := &flakyStore{UsageStore: st, down: true}
	reg := prometheus.NewRegistry()
	dir := filepath.Join(t.TempDir(), "spool")
	var logs syncBuf
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: fs, Registerer: reg, SpoolDir: dir, Log: slog.New(slog.NewJSONHandler(&logs, nil)),
		FlushInterval: 10 * time.Millisecond, BatchSize: 3, QueueSize: 5})
	for i := range 50 {
		w.Record(reqRec(i))
	}
	if got := metric(t, reg, "tollgate_usage_records_spooled_total"); got != 45 {
		t.Fatalf("spooled = %v, want 45 (queue of 5)", got)
	}
	if got := metric(t, reg, "tollgate_usage_records_queued"); got != 50 {
		t.Fatalf("queued = %v, want 50", got)
	}
	fs.setDown(false)
	waitFor(t, "the spool replayed", func() bool {
		return bytes.Contains(logs.Bytes(), []byte(`"msg":"usage spool replayed; records are queued in memory again"`))
	})
	if got := metric(t, reg, "tollgate_usage_records_replayed_total"); got != 45 {
		t.Fatalf("replayed = %v, want 45", got)
	}
	// Back to write-ahead mode: new records are queued in memory again.
	for i := 50; i < 55; i++ {
		w.Record(reqRec(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantEachOnce(t, st, 55)
	if diff := cmp.Diff(fs.ids[:5], []string{"req-0000", "req-0001", "req-0002", "req-0003", "req-0004"}); diff != "" {
		t.Fatalf("the queue is written before the spool (-got +want):\n%s", diff)
	}
	for name, want := range map[string]float64{"tollgate_usage_records_spooled_total": 45, "tollgate_usage_records_dropped_total": 0,
		"tollgate_usage_records_queued": 0, "tollgate_usage_records_written_total": 55} {
		if got := metric(t, reg, name); got != want {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after everything was written: %v", segs)
	}
}

// TestUsageWriterReplaysEarlierRun: a writer that gives up while the
// database is down leaves its records in the spool; the next writer on the
// same directory writes them first. Segments copied while their records
// were being written (as a crash between the insert and the segment's
// removal leaves them) are replayed without counting anything twice.
func TestUsageWriterReplaysEarlierRun(t *testing.T) {
	st := newCountedStore(t)
	dir := filepath.Join(t.TempDir(), "spool")

	// Run 1: records 0-9 are written, but a copy of their segment (taken
	// before its removal) survives, as after SIGKILL.
	obs := &observedStore{UsageStore: st, entered: make(chan int, 16), gate: make(chan struct{})}
	w1 := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: obs, SpoolDir: dir, FlushInterval: time.Hour, BatchSize: 10, QueueSize: 100})
	for i := range 10 {
		w1.Record(reqRec(i))
	}
	<-obs.entered
	saved := map[string][]byte{}
	for _, p := range segments(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		saved[p] = b
	}
	close(obs.gate)
	if err := w1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for p, b := range saved {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Run 2: the database is down; records 10-19 stay in the spool.
	fs := &flakyStore{UsageStore: st, down: true}
	w2 := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: fs, SpoolDir: dir, FlushInterval: 10 * time.Millisecond, BatchSize: 4, QueueSize: 100})
	for i := 10; i < 20; i++ {
		w2.Record(reqRec(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := w2.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the database down = %v, want DeadlineExceeded", err)
	}
	if len(segments(t, dir)) == 0 {
		t.Fatal("no spool segment left for the next start")
	}

	// Run 3: everything is replayed, once.
	reg := prometheus.NewRegistry()
	w3 := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, Registerer: reg, SpoolDir: dir, FlushInterval: 10 * time.Millisecond})
	w3.Record(reqRec(20))
	if err := w3.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantEachOnce(t, st, 21)
	// 10 already stored, 10 left by run 2, and record 20, which waited
	// behind them in the spool.
	if got := metric(t, reg, "tollgate_usage_records_replayed_total"); got != 21 {
		t.Fatalf("replayed = %v, want 21", got)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left: %v", segs)
	}
}

// TestUsageWriterDropsOnlyWhenSpoolDiskFull: with the spool's disk full
// (its segment is /dev/full) records still queue in memory; only when the
// queue is full too is a record dropped, counted and logged at error
// level naming the request.
func TestUsageWriterDropsOnlyWhenSpoolDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	st := newCountedStore(t)
	dir := t.TempDir()
	obs := &observedStore{UsageStore: st, entered: make(chan int, 16), gate: make(chan struct{})}
	reg := prometheus.NewRegistry()
	var logs syncBuf
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: obs, Registerer: reg, SpoolDir: dir, Log: slog.New(slog.NewJSONHandler(&logs, nil)),
		FlushInterval: time.Hour, BatchSize: 1, QueueSize: 3})
	// The writer opened an empty spool; its next segments are the full
	// disk.
	for seq := 1; seq <= 5; seq++ {
		if err := os.Symlink("/dev/full", filepath.Join(dir, fmt.Sprintf("%020d.seg", seq))); err != nil {
			t.Fatal(err)
		}
	}
	w.Record(reqRec(0))
	<-obs.entered
	for i := 1; i < 5; i++ {
		w.Record(reqRec(i))
	}
	if got := metric(t, reg, "tollgate_usage_records_dropped_total"); got != 2 {
		t.Fatalf("dropped = %v, want 2 (queue of 3, spool full)", got)
	}
	close(obs.gate)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantEachOnce(t, st, 3)
	for _, want := range []string{`"level":"ERROR","msg":"usage spool write failed: records are kept in memory only"`, `"msg":"USAGE RECORD DROPPED: spool and queue cannot take it"`} {
		if !bytes.Contains(logs.Bytes(), []byte(want)) {
			t.Fatalf("log lacks %s:\n%s", want, logs.Bytes())
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) Bytes() []byte               { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.b.Bytes()) }
