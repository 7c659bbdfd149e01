package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testReadMarkers(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	wendy := gateway.Owner{UserID: "wendy"}
	rita := gateway.Owner{UserID: "rita"}
	t.Run("UnreadCounts", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddParticipant(ctx, alice, c.ID, "wendy", gateway.ParticipantWriter); err != nil {
			t.Fatal(err)
		}
		finish := func(o gateway.Owner, content string) gateway.Exchange {
			t.Helper()
			x, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: content})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.FinishMessage(ctx, o, x.Assistant.ID, gateway.MessageResult{Content: "re " + content, Status: gateway.MessageComplete}); err != nil {
				t.Fatal(err)
			}
			return x
		}
		unread := func(o gateway.Owner) int64 {
			t.Helper()
			got, err := st.GetConversation(ctx, o, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			list, err := st.ListConversations(ctx, o, nil, 5)
			if err != nil || len(list) != 1 || list[0].UnreadCount != got.UnreadCount {
				t.Fatalf("list = %+v, %v; get says %d", list, err, got.UnreadCount)
			}
			return got.UnreadCount
		}
		a1 := finish(alice, "one")
		if got := unread(alice); got != 0 {
			t.Fatalf("alice after her own post: %d, want 0", got)
		}
		if got := unread(wendy); got != 2 {
			t.Fatalf("wendy after alice's post: %d, want 2", got)
		}
		w1 := finish(wendy, "two")
		if got := unread(alice); got != 2 {
			t.Fatalf("alice after wendy's post: %d, want 2", got)
		}
		got, err := st.MarkRead(ctx, alice, c.ID, w1.Assistant.ID)
		if err != nil || got.UnreadCount != 0 || got.Role != gateway.RoleOwner {
			t.Fatalf("mark read = %+v, %v", got, err)
		}
		// The marker never moves back.
		if got, err := st.MarkRead(ctx, alice, c.ID, a1.User.ID); err != nil || got.UnreadCount != 0 {
			t.Fatalf("mark an older message = %+v, %v", got, err)
		}
		if got, err := st.MarkRead(ctx, wendy, c.ID, a1.User.ID); err != nil || got.UnreadCount != 1 {
			t.Fatalf("wendy reads the first message = %+v, %v; want 1 unread (the reply)", got, err)
		}
		if _, err := st.MarkRead(ctx, alice, c.ID, "msg_unknown"); !errors.Is(err, gateway.ErrBadParent) {
			t.Fatalf("unknown message: %v, want ErrBadParent", err)
		}
		if _, err := st.MarkRead(ctx, gateway.Owner{UserID: "sam"}, c.ID, a1.User.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("stranger: %v, want ErrNotFound", err)
		}
	})

	// UnreadBy names the readers a message adds to, with their counts:
	// never its author (nor, for a reply, the author of what it answers),
	// never for a pending or deleted message, never a stranger.
	t.Run("UnreadBy", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"wendy", "rita"} {
			if _, err := st.AddParticipant(ctx, alice, c.ID, u, gateway.ParticipantWriter); err != nil {
				t.Fatal(err)
			}
		}
		other, err := st.CreateConversation(ctx, gateway.Owner{UserID: "sam"}, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		by := func(conv, msg string) []gateway.ReaderUnread {
			t.Helper()
			got, err := st.UnreadBy(ctx, conv, msg)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		x, err := st.StartExchange(ctx, wendy, gateway.NewExchange{ConversationID: c.ID, Content: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		want := []gateway.ReaderUnread{{UserID: "alice", UnreadCount: 1}, {UserID: "rita", UnreadCount: 1}}
		if diff := cmp.Diff(want, by(c.ID, x.User.ID)); diff != "" {
			t.Fatalf("after wendy's message (-want +got):\n%s", diff)
		}
		if got := by(c.ID, x.Assistant.ID); len(got) != 0 {
			t.Fatalf("pending reply: %+v, want nobody", got)
		}
		if _, err := st.FinishMessage(ctx, wendy, x.Assistant.ID, gateway.MessageResult{Content: "re", Status: gateway.MessageComplete}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.MarkRead(ctx, rita, c.ID, x.User.ID); err != nil {
			t.Fatal(err)
		}
		want = []gateway.ReaderUnread{{UserID: "alice", UnreadCount: 2}, {UserID: "rita", LastReadMessageID: x.User.ID, UnreadCount: 1}}
		if diff := cmp.Diff(want, by(c.ID, x.Assistant.ID)); diff != "" {
			t.Fatalf("after the reply (-want +got):\n%s", diff)
		}
		if got := by(other.ID, x.User.ID); len(got) != 0 {
			t.Fatalf("message of another conversation: %+v", got)
		}
		if got := by(c.ID, "msg_unknown"); len(got) != 0 {
			t.Fatalf("unknown message: %+v", got)
		}
		if got := by(c.ID, "bad\x00id"); len(got) != 0 {
			t.Fatalf("NUL id: %+v", got)
		}
		if _, err := st.DeleteMessage(ctx, wendy, x.User.ID); err != nil {
			t.Fatal(err)
		}
		if got := by(c.ID, x.User.ID); len(got) != 0 {
			t.Fatalf("deleted message: %+v", got)
		}
	})
}
