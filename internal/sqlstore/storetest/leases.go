package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// testLeases: pending assistant messages belong to the instance that
// started them; a sweep marks incomplete (keeping the checkpointed text)
// only those of instances whose lease expired, never its own or a live
// one's, and legacy ones (no instance) only past their age.
func testLeases(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}

	t.Run("SweepOrphanedKeepsCheckpoint", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		t0 := time.Now().UTC()
		for id, at := range map[string]time.Time{"live": t0, "dead": t0.Add(-time.Minute), "self": t0.Add(-time.Hour)} {
			if err := st.Heartbeat(ctx, id, at); err != nil {
				t.Fatal(err)
			}
		}
		// A second beat moves the lease forward (the row is upserted).
		if err := st.Heartbeat(ctx, "dead", t0.Add(-50*time.Second)); err != nil {
			t.Fatal(err)
		}
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		start := func(instance string) gateway.Exchange {
			t.Helper()
			x, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: c.ID, Content: "q " + instance, Instance: instance})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.CheckpointMessage(ctx, alice, x.Assistant.ID, "partial of "+instance); err != nil {
				t.Fatal(err)
			}
			return x
		}
		live, dead, self, gone, legacy := start("live"), start("dead"), start("self"), start("never-beat"), start("")

		// Another owner cannot checkpoint it.
		if err := st.CheckpointMessage(ctx, gateway.Owner{UserID: "bob"}, dead.Assistant.ID, "x"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("checkpoint by another owner = %v, want ErrNotFound", err)
		}
		n, err := st.SweepOrphanedMessages(ctx, "self", t0.Add(-30*time.Second), t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("swept %d, want 2 (dead, never-beat)", n)
		}
		msgs, err := st.ListMessages(ctx, alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]gateway.Message{}
		for _, m := range msgs {
			status[m.ID] = m
		}
		for _, tc := range []struct {
			name string
			x    gateway.Exchange
			want gateway.MessageStatus
		}{
			{"live", live, gateway.MessagePending}, {"self", self, gateway.MessagePending},
			{"dead", dead, gateway.MessageIncomplete}, {"never-beat", gone, gateway.MessageIncomplete},
			{"legacy", legacy, gateway.MessagePending},
		} {
			m := status[tc.x.Assistant.ID]
			if m.Status != tc.want {
				t.Errorf("%s: status = %q, want %q", tc.name, m.Status, tc.want)
			}
			if want := "partial of " + tc.name; tc.name != "never-beat" && tc.name != "legacy" && m.Content != want {
				t.Errorf("%s: content = %q, want %q", tc.name, m.Content, want)
			}
		}
		if got := status[gone.Assistant.ID].Content; got != "partial of never-beat" {
			t.Errorf("never-beat content = %q", got)
		}
		// A swept message is finished: neither checkpoint nor finish
		// touches it any more.
		if err := st.CheckpointMessage(ctx, alice, dead.Assistant.ID, "late"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("checkpoint after sweep = %v, want ErrNotFound", err)
		}
		if _, err := st.FinishMessage(ctx, alice, dead.Assistant.ID, gateway.MessageResult{Content: "late", Status: gateway.MessageComplete}); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("finish after sweep = %v, want ErrNotFound", err)
		}
		// Legacy messages go by age; a second sweep finds nothing new.
		if n, err := st.SweepOrphanedMessages(ctx, "self", t0.Add(-30*time.Second), t0.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("legacy sweep = %d, %v; want 1", n, err)
		}
		if n, err := st.SweepOrphanedMessages(ctx, "self", t0.Add(-30*time.Second), t0.Add(time.Minute)); err != nil || n != 0 {
			t.Fatalf("third sweep = %d, %v; want 0", n, err)
		}
		// The dead lease is gone; the instance that comes back is live again.
		if err := st.RemoveInstance(ctx, "live"); err != nil {
			t.Fatal(err)
		}
		if n, err := st.SweepOrphanedMessages(ctx, "self", t0.Add(-30*time.Second), t0.Add(-time.Hour)); err != nil || n != 1 {
			t.Fatalf("sweep after RemoveInstance(live) = %d, %v; want 1", n, err)
		}
	})
}
