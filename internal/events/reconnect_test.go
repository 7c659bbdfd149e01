package events_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// stepTransport is a Transport whose connection the test controls: Run
// reports it connected (caughtUp) each time connect receives.
type stepTransport struct{ connect chan struct{} }

func (stepTransport) Send(context.Context, events.Message) error { return nil }

func (t stepTransport) Run(ctx context.Context, _ func(events.Message), caughtUp func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.connect:
			caughtUp()
		}
	}
}

// TestListeningAndReconnect: Listening stays open until the transport
// first receives, and every (re)connection checks the subscribers' access
// again, since an access change sent while disconnected was lost.
func TestListeningAndReconnect(t *testing.T) {
	t.Parallel()
	st := sqltest.SQLite(t)
	c, err := st.CreateConversation(context.Background(), gateway.Owner{UserID: gateway.LocalUserID}, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	tr := stepTransport{connect: make(chan struct{})}
	b, err := events.New(events.Options{Store: st, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go b.Run(ctx)
	select {
	case <-b.Listening():
		t.Fatal("Listening closed before the transport connected")
	default:
	}
	var allowed atomic.Bool
	allowed.Store(true)
	check := func(context.Context) error {
		if allowed.Load() {
			return nil
		}
		return gateway.NotFound("conversation_not_found", "gone")
	}
	sub, err := b.Subscribe(ctx, c.ID, "", check)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	tr.connect <- struct{}{}
	select {
	case <-b.Listening():
	case <-time.After(10 * time.Second):
		t.Fatal("Listening not closed after the transport connected")
	}
	// Access goes away while the connection is down; the reconnect finds
	// out.
	allowed.Store(false)
	tr.connect <- struct{}{}
	_, err = sub.Next(ctx, 10*time.Second)
	if !errors.Is(err, events.ErrRevoked) {
		t.Fatalf("after a reconnect without access: %v, want ErrRevoked", err)
	}
}

// TestListeningWithoutTransport: a single instance listens from the start.
func TestListeningWithoutTransport(t *testing.T) {
	t.Parallel()
	b, _ := newBroker(t, 8)
	select {
	case <-b.Listening():
	default:
		t.Fatal("a broker without a transport is not listening")
	}
}
