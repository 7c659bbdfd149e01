package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// memBus is a Transport shared by several brokers that, like PostgreSQL
// NOTIFY and Redis pub/sub, hands every message to every instance, the
// sender included, through the wire codec.
type memBus struct {
	mu       sync.Mutex
	receives []func(Message)
}

type memTransport struct{ bus *memBus }

func (t memTransport) Send(_ context.Context, m Message) error {
	payload := encode(m, notifyLimit)
	t.bus.mu.Lock()
	rs := append([]func(Message){}, t.bus.receives...)
	t.bus.mu.Unlock()
	for _, r := range rs {
		if got, ok := decode(payload); ok {
			r(got)
		}
	}
	return nil
}

func (t memTransport) Run(ctx context.Context, receive func(Message), caughtUp func()) {
	t.bus.mu.Lock()
	t.bus.receives = append(t.bus.receives, receive)
	t.bus.mu.Unlock()
	caughtUp()
	<-ctx.Done()
}

// TestSignalsAndLocalEvents: a signal reaches every other instance once
// and never its sender (the transport echoes it); PublishLocal reaches
// this instance's subscribers only, with no seq, and is not mistaken for
// an event the subscriber already has.
func TestSignalsAndLocalEvents(t *testing.T) {
	t.Parallel()
	st := sqltest.SQLite(t)
	ctx := t.Context()
	c, err := st.CreateConversation(ctx, gateway.Owner{UserID: gateway.LocalUserID}, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	bus := &memBus{}
	var brokers []*Broker
	for range 2 {
		b, err := New(Options{Store: st, Transport: memTransport{bus}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		go b.Run(ctx)
		<-b.Listening()
		brokers = append(brokers, b)
	}
	a, b := brokers[0], brokers[1]

	a.Signal(ctx, []byte(`{"k":"beat","u":"alice"}`))
	select {
	case got := <-b.Signals():
		if string(got) != `{"k":"beat","u":"alice"}` {
			t.Fatalf("b got %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b got no signal")
	}
	b.Signal(ctx, []byte(`{"k":"beat","u":"bob"}`))
	if got := <-a.Signals(); string(got) != `{"k":"beat","u":"bob"}` {
		t.Fatalf("a got %s, want only b's signal (its own echo is dropped)", got)
	}
	select {
	case got := <-a.Signals():
		t.Fatalf("a got a second signal %s", got)
	case got := <-b.Signals():
		t.Fatalf("b got its own signal back: %s", got)
	default:
	}

	// A subscriber that has persisted events: a local event after them
	// arrives with seq 0, and only on its own instance.
	subA, err := a.Subscribe(ctx, c.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()
	subB, err := b.Subscribe(ctx, c.ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()
	seq, err := a.Publish(ctx, c.ID, "message.created", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	a.PublishLocal(c.ID, "typing.update", []byte(`{"typing":true}`))
	for _, want := range []Event{{Seq: seq, Type: "message.created"}, {Seq: 0, Type: "typing.update"}} {
		ev, err := subA.Next(ctx, 10*time.Second)
		if err != nil || ev.Seq != want.Seq || ev.Type != want.Type {
			t.Fatalf("a's subscriber: %+v, %v; want %+v", ev, err, want)
		}
	}
	if ev, err := subB.Next(ctx, 10*time.Second); err != nil || ev.Seq != seq || ev.Type != "message.created" {
		t.Fatalf("b's subscriber: %+v, %v", ev, err)
	}
	if ev, err := subB.Next(ctx, 50*time.Millisecond); err != ErrIdle {
		t.Fatalf("b's subscriber got %+v, %v; want nothing (local to a)", ev, err)
	}
}
