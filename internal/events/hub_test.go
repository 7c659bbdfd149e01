package events_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

func newBroker(t testing.TB, buffer int) (*events.Broker, string) {
	t.Helper()
	st := sqltest.SQLite(t)
	c, err := st.CreateConversation(context.Background(), gateway.Owner{UserID: gateway.LocalUserID}, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.New(events.Options{Store: st, Buffer: buffer, MaxEventsPerConversation: 100000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, c.ID
}

// A subscriber that never reads loses deltas only; when its queue holds
// nothing but other events it is disconnected with ErrSlow.
func TestSubscriberNeverReading(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, conv := newBroker(t, 8)
	slow, err := b.Subscribe(ctx, conv, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	pub := func(typ string) {
		if _, err := b.Publish(ctx, conv, typ, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	pub("message.created")
	for range 100 {
		pub("message.delta")
	}
	pub("message.done")
	var got []string
	for range 8 {
		ev, err := slow.Next(ctx, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(ev.Seq, " ", ev.Type))
	}
	// message.created (1) and message.done (102) survive; deltas that no
	// longer fit are dropped, and done takes the place of the oldest.
	want := []string{"1 message.created", "3 message.delta", "4 message.delta", "5 message.delta", "6 message.delta", "7 message.delta", "8 message.delta", "102 message.done"}
	if !slices.Equal(got, want) {
		t.Fatalf("slow subscriber got %v, want %v", got, want)
	}
	for range 9 {
		pub("message.updated")
	}
	var err2 error
	for err2 == nil {
		_, err2 = slow.Next(ctx, time.Second)
	}
	if !errors.Is(err2, events.ErrSlow) {
		t.Fatalf("after 9 undroppable events: %v, want ErrSlow", err2)
	}
}

// BenchmarkIdleSubscribers reports the heap held per idle subscriber of
// the hub (10,000 subscribers over 100 conversations; the HTTP
// connection's own buffers and goroutine are not included).
func BenchmarkIdleSubscribers(b *testing.B) {
	br, conv := newBroker(b, 256)
	ctx := context.Background()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		subs := make([]*events.Subscription, 10000)
		for i := range subs {
			s, err := br.Subscribe(ctx, conv, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			subs[i] = s
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "B/subscriber")
		for _, s := range subs {
			s.Close()
		}
	}
}

// BenchmarkFanOut1000 publishes one event to 1,000 subscribers of one
// conversation, each read by its own goroutine, and reports the p99 and
// max time from Publish to the last subscriber holding it.
func BenchmarkFanOut1000(b *testing.B) {
	br, conv := newBroker(b, 256)
	ctx := context.Background()
	const n = 1000
	subs := make([]*events.Subscription, n)
	for i := range subs {
		s, err := br.Subscribe(ctx, conv, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = s
		defer s.Close()
	}
	var lat []time.Duration
	for b.Loop() {
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Next(ctx, 10*time.Second); err != nil {
					b.Error(err)
				}
			}()
		}
		time.Sleep(5 * time.Millisecond) // the readers wait in Next
		start := time.Now()
		if _, err := br.Publish(ctx, conv, "message.updated", []byte(`{"id":"msg_x"}`)); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
