package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// observedStore passes batches to a real SQLite store and reports their
// sizes; when gate is set, each insert first waits for it.
type observedStore struct {
	gateway.UsageStore
	entered chan int
	gate    chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func (s *observedStore) InsertUsage(ctx context.Context, recs []gateway.UsageRecord) error {
	if s.entered != nil {
		s.entered <- len(recs)
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	s.sizes = append(s.sizes, len(recs))
	s.mu.Unlock()
	return s.UsageStore.InsertUsage(ctx, recs)
}

var day = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

func usageRec(i int) gateway.UsageRecord {
	return gateway.UsageRecord{CreatedAt: day, UserID: fmt.Sprintf("u%d", i%2), Model: "m", ServedModel: "m", Provider: "p",
		PromptTokens: 2, CompletionTokens: 1, Status: gateway.UsageOK, HTTPStatus: 200}
}

func totalRequests(t *testing.T, st gateway.UsageStore) int64 {
	t.Helper()
	got, err := st.UsageSummary(context.Background(), gateway.UsageQuery{From: day.Add(-time.Hour), To: day.Add(time.Hour), GroupBy: gateway.UsageByModel})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		return 0
	}
	return got[0].Requests
}

func TestUsageWriterDrainsOnClose(t *testing.T) {
	st := sqltest.SQLite(t)
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, FlushInterval: time.Hour, BatchSize: 1000, QueueSize: 1000})
	for i := range 250 {
		w.Record(usageRec(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if got, want := totalRequests(t, st), int64(250); got != want {
		t.Fatalf("stored records = %d, want %d", got, want)
	}
	got, err := st.UsageSummary(context.Background(), gateway.UsageQuery{From: day.Add(-time.Hour), To: day.Add(time.Hour), GroupBy: gateway.UsageByUser})
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.UsageGroup{{Group: "u0", Requests: 125, PromptTokens: 250, CompletionTokens: 125, Statuses: gateway.UsageStatuses{OK: 125}}, {Group: "u1", Requests: 125, PromptTokens: 250, CompletionTokens: 125, Statuses: gateway.UsageStatuses{OK: 125}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("summary mismatch (-want +got):\n%s", diff)
	}
	t.Run("RecordAfterCloseIsDropped", func(t *testing.T) {
		w.Record(usageRec(0))
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		if got, want := totalRequests(t, st), int64(250); got != want {
			t.Fatalf("stored records = %d, want %d", got, want)
		}
	})
}

func TestUsageWriterBatches(t *testing.T) {
	obs := &observedStore{UsageStore: sqltest.SQLite(t), entered: make(chan int, 16)}
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: obs, FlushInterval: time.Hour, BatchSize: 3, QueueSize: 100})
	for i := range 7 {
		w.Record(usageRec(i))
	}
	// Two full batches are written without waiting for the interval.
	for range 2 {
		select {
		case n := <-obs.entered:
			if n != 3 {
				t.Fatalf("batch size = %d, want 3", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("full batch not written")
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{3, 3, 1}, obs.sizes); diff != "" {
		t.Fatalf("batch sizes mismatch (-want +got):\n%s", diff)
	}
}

func TestUsageWriterFlushInterval(t *testing.T) {
	obs := &observedStore{UsageStore: sqltest.SQLite(t), entered: make(chan int, 16)}
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: obs, FlushInterval: 10 * time.Millisecond, BatchSize: 100, QueueSize: 100})
	defer w.Close(context.Background())
	w.Record(usageRec(0))
	select {
	case n := <-obs.entered:
		if n != 1 {
			t.Fatalf("batch size = %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("partial batch not written by the flush interval")
	}
}

// TestUsageWriterDropsWhenFullWithoutSpool: without a spool, queue_size
// records (the batch being written included) wait in memory; more are
// dropped without blocking and counted.
func TestUsageWriterDropsWhenFullWithoutSpool(t *testing.T) {
	obs := &observedStore{UsageStore: sqltest.SQLite(t), entered: make(chan int, 16), gate: make(chan struct{})}
	reg := prometheus.NewRegistry()
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: obs, Registerer: reg, FlushInterval: time.Hour, BatchSize: 1, QueueSize: 2})
	w.Record(usageRec(0))
	<-obs.entered // the writer holds record 0 in a blocked insert
	w.Record(usageRec(1))
	w.Record(usageRec(2)) // dropped: the queue (2) is full
	w.Record(usageRec(3)) // dropped, without blocking
	if got := metric(t, reg, "tollgate_usage_records_dropped_total"); got != 2 {
		t.Fatalf("dropped = %v, want 2", got)
	}
	close(obs.gate)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := totalRequests(t, obs.UsageStore), int64(2); got != want {
		t.Fatalf("stored records = %d, want %d", got, want)
	}
	if got := metric(t, reg, "tollgate_usage_records_written_total"); got != 2 {
		t.Fatalf("written = %v, want 2", got)
	}
}

func TestUsageWriterCloseGivesUp(t *testing.T) {
	obs := &observedStore{UsageStore: sqltest.SQLite(t), entered: make(chan int, 16), gate: make(chan struct{})}
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: obs, FlushInterval: time.Hour, BatchSize: 1, QueueSize: 10})
	w.Record(usageRec(0))
	<-obs.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
}

// metric is the value of a registered counter or gauge.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
