package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// testEvents is the conformance suite of gateway.EventStore (SPEC 7.1):
// seqs assigned once per conversation, replay ranges, bounds, the
// per-conversation cap and pruning by age.
func testEvents(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	newConv := func(t *testing.T, st Stores) string {
		t.Helper()
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{Title: "events"})
		if err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	appendN := func(t *testing.T, st Stores, conv string, n, max int) []gateway.ConversationEvent {
		t.Helper()
		var out []gateway.ConversationEvent
		for i := range n {
			ev, err := st.AppendEvent(ctx, conv, "message.delta", []byte(fmt.Sprintf(`{"i":%d}`, i)), max)
			if err != nil {
				t.Fatalf("AppendEvent %d: %v", i, err)
			}
			out = append(out, ev)
		}
		return out
	}
	seqs := func(evs []gateway.ConversationEvent) []int64 {
		var out []int64
		for _, ev := range evs {
			out = append(out, ev.Seq)
		}
		return out
	}

	t.Run("SeqsPerConversationFromOne", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		a, b := newConv(t, st), newConv(t, st)
		got := seqs(appendN(t, st, a, 3, 0))
		if !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("seqs of a = %v, want 1 2 3", got)
		}
		if got := seqs(appendN(t, st, b, 2, 0)); !slices.Equal(got, []int64{1, 2}) {
			t.Fatalf("seqs of b = %v, want 1 2 (per conversation)", got)
		}
		if bd, err := st.EventBounds(ctx, a); err != nil || bd != (gateway.EventBounds{First: 1, Last: 3}) {
			t.Fatalf("bounds of a = %+v, %v; want {1 3}", bd, err)
		}
	})
	t.Run("EventsAfterIsARange", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		conv := newConv(t, st)
		appendN(t, st, conv, 5, 0)
		all, err := st.EventsAfter(ctx, conv, 0, 5, 100)
		if err != nil || !slices.Equal(seqs(all), []int64{1, 2, 3, 4, 5}) {
			t.Fatalf("EventsAfter(0, 5) = %v, %v", seqs(all), err)
		}
		if all[2].Type != "message.delta" || string(all[2].Data) != `{"i":2}` || all[2].ConversationID != conv || all[2].CreatedAt.IsZero() {
			t.Fatalf("event 3 = %+v", all[2])
		}
		for _, tc := range []struct {
			after, upTo int64
			limit       int
			want        []int64
		}{
			{2, 4, 100, []int64{3, 4}},
			{0, 5, 2, []int64{1, 2}},
			{5, 9, 100, nil},
			{3, 3, 100, nil},
		} {
			got, err := st.EventsAfter(ctx, conv, tc.after, tc.upTo, tc.limit)
			if err != nil || !slices.Equal(seqs(got), tc.want) {
				t.Fatalf("EventsAfter(%d, %d, %d) = %v, %v; want %v", tc.after, tc.upTo, tc.limit, seqs(got), err, tc.want)
			}
		}
	})
	t.Run("UnknownConversation", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		if _, err := st.AppendEvent(ctx, "conv_nope", "message.created", []byte(`{}`), 0); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("AppendEvent(unknown) = %v, want ErrNotFound", err)
		}
		if bd, err := st.EventBounds(ctx, "conv_nope"); err != nil || bd != (gateway.EventBounds{}) {
			t.Fatalf("EventBounds(unknown) = %+v, %v; want {0 0}", bd, err)
		}
		conv := newConv(t, st)
		if err := st.DeleteConversation(ctx, alice, conv); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendEvent(ctx, conv, "message.created", []byte(`{}`), 0); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("AppendEvent(deleted) = %v, want ErrNotFound", err)
		}
	})
	t.Run("ConcurrentAppendsGetDistinctSeqs", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		conv := newConv(t, st)
		const n = 20
		got := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev, err := st.AppendEvent(ctx, conv, "message.delta", []byte(`{}`), 0)
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = ev.Seq
			}()
		}
		wg.Wait()
		slices.Sort(got)
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("concurrent seqs = %v, want 1..%d each once", got, n)
			}
		}
	})
	t.Run("CapDropsTheOldest", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		conv := newConv(t, st)
		appendN(t, st, conv, 128, 10)
		// The cap is enforced every 64th seq: at 128, everything up to 118
		// goes; the seqs keep counting.
		if bd, err := st.EventBounds(ctx, conv); err != nil || bd != (gateway.EventBounds{First: 119, Last: 128}) {
			t.Fatalf("bounds after 128 appends with cap 10 = %+v, %v; want {119 128}", bd, err)
		}
		left, _ := st.EventsAfter(ctx, conv, 0, 128, 1000)
		if len(left) != 10 || left[0].Seq != 119 {
			t.Fatalf("retained = %v, want 119..128", seqs(left))
		}
	})
	t.Run("PruneByAgeKeepsCounting", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		conv := newConv(t, st)
		appendN(t, st, conv, 3, 0)
		if n, err := st.PruneEvents(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("PruneEvents(an hour ago) = %d, %v; want 0", n, err)
		}
		if n, err := st.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil || n != 3 {
			t.Fatalf("PruneEvents(in an hour) = %d, %v; want 3", n, err)
		}
		if bd, err := st.EventBounds(ctx, conv); err != nil || bd != (gateway.EventBounds{First: 0, Last: 3}) {
			t.Fatalf("bounds after pruning all = %+v, %v; want {0 3}", bd, err)
		}
		if ev := appendN(t, st, conv, 1, 0); ev[0].Seq != 4 {
			t.Fatalf("seq after pruning = %d, want 4 (never reused)", ev[0].Seq)
		}
	})
}
