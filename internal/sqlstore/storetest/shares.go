package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testShares(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	bob := gateway.Owner{UserID: "bob"}
	app := gateway.Owner{UserID: "app", EndUserID: "e1"}
	t.Run("SetReadReplaceDelete", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{Title: "public"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: c.ID, Content: "hi"}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetShare(ctx, bob, c.ID, "h1"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("bob shares: %v", err)
		}
		ec, _ := st.CreateConversation(ctx, app, gateway.Conversation{})
		if err := st.SetShare(ctx, app, ec.ID, "h0"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("end user shares: %v", err)
		}
		if err := st.SetShare(ctx, alice, c.ID, "h1"); err != nil {
			t.Fatal(err)
		}
		got, msgs, err := st.SharedConversation(ctx, "h1")
		if err != nil || got.ID != c.ID || got.Title != "public" || len(msgs) != 2 {
			t.Fatalf("shared = %+v, %d messages, %v", got, len(msgs), err)
		}
		if err := st.SetShare(ctx, alice, c.ID, "h2"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.SharedConversation(ctx, "h1"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("replaced token: %v", err)
		}
		if err := st.DeleteShare(ctx, bob, c.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("bob revokes: %v", err)
		}
		if err := st.DeleteShare(ctx, alice, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.SharedConversation(ctx, "h2"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("revoked token: %v", err)
		}
		if err := st.DeleteShare(ctx, alice, c.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("revoke twice: %v", err)
		}
	})
}
