package lease_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/lease"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// TestBeatRecordsWriteResult: WriteError is an error before the first
// beat, nil after a beat that wrote, and the write's error once the
// database refuses it (here: closed) — the cached answer of /readyz's
// database_write check.
func TestBeatRecordsWriteResult(t *testing.T) {
	t.Parallel()
	st := sqltest.SQLite(t)
	l := lease.New(lease.Options{Store: st, ID: "a", Interval: time.Second, Timeout: 3 * time.Second})
	if l.WriteError() == nil {
		t.Fatal("WriteError before the first beat = nil")
	}
	if err := l.Beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteError(); err != nil {
		t.Fatalf("WriteError after a beat = %v", err)
	}
	st.Close()
	if err := l.Beat(context.Background()); err == nil {
		t.Fatal("Beat on a closed database = nil")
	}
	if l.WriteError() == nil {
		t.Fatal("WriteError after a failed beat = nil")
	}
}

// TestSweepBySingleProcess: on SQLite (SingleProcess) the first beat of a
// new instance marks another instance's pending reply incomplete even
// though its heartbeat is fresh; with leases (PostgreSQL's mode) it waits
// for the lease to expire.
func TestSweepBySingleProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	for _, single := range []bool{true, false} {
		st := sqltest.SQLite(t)
		if err := st.Heartbeat(ctx, "old", time.Now()); err != nil {
			t.Fatal(err)
		}
		c, _ := st.CreateConversation(ctx, alice, gateway.Conversation{})
		x, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: c.ID, Content: "q", Instance: "old"})
		if err != nil {
			t.Fatal(err)
		}
		l := lease.New(lease.Options{Store: st, ID: "new", Interval: time.Second, Timeout: time.Minute, SingleProcess: single, LegacyAge: time.Hour})
		if err := l.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		msgs, _ := st.ListMessages(ctx, alice, c.ID)
		want := map[bool]gateway.MessageStatus{true: gateway.MessageIncomplete, false: gateway.MessagePending}[single]
		if msgs[1].ID != x.Assistant.ID || msgs[1].Status != want {
			t.Fatalf("single=%v: status = %q, want %q", single, msgs[1].Status, want)
		}
	}
}
