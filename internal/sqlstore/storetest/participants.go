package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// testParticipants checks that a participant's access is decided in the
// store, on every read and write, and ends with its removal.
func testParticipants(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	writer := gateway.Owner{UserID: "wendy"}
	reader := gateway.Owner{UserID: "rita"}
	stranger := gateway.Owner{UserID: "sam"}
	app := gateway.Owner{UserID: "app", EndUserID: "e1"}
	notFound := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", what, err)
		}
	}

	t.Run("Access", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{Title: "shared"})
		if err != nil {
			t.Fatal(err)
		}
		x, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: c.ID, Content: "owner words zebra"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddParticipant(ctx, alice, c.ID, "wendy", gateway.ParticipantWriter); err != nil {
			t.Fatal(err)
		}
		p, err := st.AddParticipant(ctx, alice, c.ID, "rita", gateway.ParticipantReader)
		if err != nil {
			t.Fatal(err)
		}
		if p.ConversationID != c.ID || p.UserID != "rita" || p.Role != gateway.ParticipantReader || p.CreatedAt.IsZero() {
			t.Fatalf("participant = %+v", p)
		}
		// Only the owner adds; nobody can add to an end user's conversation.
		notFound(t, "writer adds", errOnly(st.AddParticipant(ctx, writer, c.ID, "sam", gateway.ParticipantReader)))
		ec, err := st.CreateConversation(ctx, app, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		notFound(t, "add to end user's", errOnly(st.AddParticipant(ctx, app, ec.ID, "sam", gateway.ParticipantReader)))
		notFound(t, "list end user's", errOnly(st.ListParticipants(ctx, app, ec.ID)))

		for _, tc := range []struct {
			o    gateway.Owner
			role gateway.ParticipantRole
		}{{alice, gateway.RoleOwner}, {writer, gateway.ParticipantWriter}, {reader, gateway.ParticipantReader}} {
			got, err := st.GetConversation(ctx, tc.o, c.ID)
			if err != nil || got.Role != tc.role {
				t.Fatalf("%s: get = %+v, %v; want role %s", tc.o.UserID, got, err, tc.role)
			}
			list, err := st.ListConversations(ctx, tc.o, nil, 10)
			if err != nil || len(list) != 1 || list[0].ID != c.ID || list[0].Role != tc.role {
				t.Fatalf("%s: list = %+v, %v", tc.o.UserID, list, err)
			}
			msgs, err := st.ListMessages(ctx, tc.o, c.ID)
			if err != nil || len(msgs) != 2 {
				t.Fatalf("%s: messages = %d, %v", tc.o.UserID, len(msgs), err)
			}
			hits, err := st.SearchMessages(ctx, tc.o, "zebra", 10)
			if err != nil || len(hits) != 1 || hits[0].MessageID != x.User.ID {
				t.Fatalf("%s: search = %+v, %v", tc.o.UserID, hits, err)
			}
			ps, err := st.ListParticipants(ctx, tc.o, c.ID)
			if err != nil || len(ps) != 2 {
				t.Fatalf("%s: participants = %+v, %v", tc.o.UserID, ps, err)
			}
		}
		for _, o := range []gateway.Owner{stranger, app} {
			notFound(t, o.UserID+" get", errOnly(st.GetConversation(ctx, o, c.ID)))
			notFound(t, o.UserID+" messages", errOnly(st.ListMessages(ctx, o, c.ID)))
			notFound(t, o.UserID+" participants", errOnly(st.ListParticipants(ctx, o, c.ID)))
			if list, _ := st.ListConversations(ctx, o, nil, 10); len(list) != 0 && list[0].ID == c.ID {
				t.Fatalf("%s lists the shared conversation", o.UserID)
			}
			if hits, _ := st.SearchMessages(ctx, o, "zebra", 10); len(hits) != 0 {
				t.Fatalf("%s finds %+v", o.UserID, hits)
			}
		}

		// Posting: the writer may, the reader may not; authors are recorded.
		wx, err := st.StartExchange(ctx, writer, gateway.NewExchange{ConversationID: c.ID, Content: "writer words"})
		if err != nil {
			t.Fatal(err)
		}
		if wx.User.AuthorID != "wendy" || wx.Assistant.AuthorID != "" || len(wx.Path) != 2 {
			t.Fatalf("writer exchange = %+v", wx)
		}
		if _, err := st.FinishMessage(ctx, writer, wx.Assistant.ID, gateway.MessageResult{Content: "ok", Status: gateway.MessageComplete}); err != nil {
			t.Fatal(err)
		}
		notFound(t, "reader posts", errOnly(st.StartExchange(ctx, reader, gateway.NewExchange{ConversationID: c.ID, Content: "x"})))
		notFound(t, "stranger posts", errOnly(st.StartExchange(ctx, stranger, gateway.NewExchange{ConversationID: c.ID, Content: "x"})))

		// Edits: a writer its own messages only; the owner all; a reader none.
		if _, err := st.EditMessage(ctx, writer, wx.User.ID, "edited"); err != nil {
			t.Fatal(err)
		}
		notFound(t, "writer edits owner's", errOnly(st.EditMessage(ctx, writer, x.User.ID, "x")))
		notFound(t, "writer edits reply", errOnly(st.EditMessage(ctx, writer, wx.Assistant.ID, "x")))
		notFound(t, "reader edits", errOnly(st.EditMessage(ctx, reader, x.User.ID, "x")))
		notFound(t, "reader deletes", errOnly(st.DeleteMessage(ctx, reader, x.User.ID)))
		notFound(t, "stranger restores", errOnly(st.RestoreMessage(ctx, stranger, x.User.ID)))
		if _, err := st.DeleteMessage(ctx, writer, wx.User.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RestoreMessage(ctx, writer, wx.User.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.EditMessage(ctx, alice, wx.User.ID, "owner edits"); err != nil {
			t.Fatal(err)
		}

		// The owner alone renames and deletes.
		title := "x"
		notFound(t, "writer renames", errOnly(st.UpdateConversation(ctx, writer, c.ID, gateway.ConversationPatch{Title: &title})))
		notFound(t, "writer deletes", st.DeleteConversation(ctx, writer, c.ID))

		// Removal: a participant removes itself, only the owner others.
		notFound(t, "writer removes reader", errOnly(st.RemoveParticipant(ctx, writer, c.ID, "rita")))
		notFound(t, "stranger removes itself", errOnly(st.RemoveParticipant(ctx, stranger, c.ID, "sam")))
		// The removed row comes back, role included (participant.removed
		// carries it).
		for _, rm := range []struct {
			by   gateway.Owner
			user string
			role gateway.ParticipantRole
		}{{reader, "rita", gateway.ParticipantReader}, {alice, "wendy", gateway.ParticipantWriter}} {
			p, err := st.RemoveParticipant(ctx, rm.by, c.ID, rm.user)
			if err != nil {
				t.Fatal(err)
			}
			if p.ConversationID != c.ID || p.UserID != rm.user || p.Role != rm.role || p.CreatedAt.IsZero() {
				t.Fatalf("removed %s = %+v, want role %s", rm.user, p, rm.role)
			}
		}
		notFound(t, "remove twice", errOnly(st.RemoveParticipant(ctx, alice, c.ID, "wendy")))
		for _, o := range []gateway.Owner{writer, reader} {
			notFound(t, o.UserID+" get after removal", errOnly(st.GetConversation(ctx, o, c.ID)))
			notFound(t, o.UserID+" messages after removal", errOnly(st.ListMessages(ctx, o, c.ID)))
			if hits, _ := st.SearchMessages(ctx, o, "zebra", 10); len(hits) != 0 {
				t.Fatalf("%s still finds %+v", o.UserID, hits)
			}
		}
		notFound(t, "removed writer posts", errOnly(st.StartExchange(ctx, writer, gateway.NewExchange{ConversationID: c.ID, Content: "x"})))
		notFound(t, "removed writer edits", errOnly(st.EditMessage(ctx, writer, wx.User.ID, "x")))
	})

	t.Run("RoleChangeAndCascade", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddParticipant(ctx, alice, c.ID, "wendy", gateway.ParticipantReader); err != nil {
			t.Fatal(err)
		}
		p, err := st.AddParticipant(ctx, alice, c.ID, "wendy", gateway.ParticipantWriter)
		if err != nil || p.Role != gateway.ParticipantWriter {
			t.Fatalf("role change = %+v, %v", p, err)
		}
		if ps, _ := st.ListParticipants(ctx, alice, c.ID); len(ps) != 1 || ps[0].Role != gateway.ParticipantWriter {
			t.Fatalf("participants = %+v", ps)
		}
		if err := st.DeleteConversation(ctx, alice, c.ID); err != nil {
			t.Fatal(err)
		}
		notFound(t, "participant after delete", errOnly(st.GetConversation(ctx, writer, c.ID)))
	})
}

func errOnly[T any](_ T, err error) error { return err }
