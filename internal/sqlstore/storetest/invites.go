package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testInvites(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	bob := gateway.Owner{UserID: "bob"}
	app := gateway.Owner{UserID: "app", EndUserID: "e1"}
	notFound := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("%s: %v, want ErrNotFound", what, err)
		}
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	t.Run("AcceptExpireUseUpRevoke", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := st.CreateInvite(ctx, alice, gateway.Invite{ConversationID: c.ID, TokenHash: "h1", Role: gateway.ParticipantWriter,
			ExpiresAt: t0.Add(time.Hour), MaxUses: 2})
		if err != nil {
			t.Fatal(err)
		}
		notFound(t, "bob creates", errOnly(st.CreateInvite(ctx, bob, gateway.Invite{ConversationID: c.ID, TokenHash: "h2", Role: gateway.ParticipantReader, ExpiresAt: t0})))
		ec, _ := st.CreateConversation(ctx, app, gateway.Conversation{})
		notFound(t, "end user's conversation", errOnly(st.CreateInvite(ctx, app, gateway.Invite{ConversationID: ec.ID, TokenHash: "h3", Role: gateway.ParticipantReader, ExpiresAt: t0})))

		notFound(t, "expired", errOnly(st.AcceptInvite(ctx, "h1", "bob", t0.Add(time.Hour))))
		notFound(t, "unknown token", errOnly(st.AcceptInvite(ctx, "nope", "bob", t0)))
		got, err := st.AcceptInvite(ctx, "h1", "bob", t0)
		if err != nil || got.ID != inv.ID || got.Uses != 1 {
			t.Fatalf("accept = %+v, %v", got, err)
		}
		if g, err := st.GetConversation(ctx, bob, c.ID); err != nil || g.Role != gateway.ParticipantWriter {
			t.Fatalf("bob's role = %+v, %v", g, err)
		}
		if got, err := st.AcceptInvite(ctx, "h1", "alice", t0); err != nil || got.Uses != 1 {
			t.Fatalf("owner accepts = %+v, %v; want no use", got, err)
		}
		if _, err := st.AcceptInvite(ctx, "h1", "carol", t0); err != nil {
			t.Fatal(err)
		}
		notFound(t, "used up", errOnly(st.AcceptInvite(ctx, "h1", "dave", t0)))
		if _, err := st.GetConversation(ctx, gateway.Owner{UserID: "dave"}, c.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("dave joined with a used-up invite: %v", err)
		}

		inv2, err := st.CreateInvite(ctx, alice, gateway.Invite{ConversationID: c.ID, TokenHash: "h4", Role: gateway.ParticipantReader, ExpiresAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		notFound(t, "bob revokes", errOnly(st.RevokeInvite(ctx, bob, inv2.ID)))
		r, err := st.RevokeInvite(ctx, alice, inv2.ID)
		if err != nil || r.RevokedAt == nil {
			t.Fatalf("revoke = %+v, %v", r, err)
		}
		notFound(t, "revoked", errOnly(st.AcceptInvite(ctx, "h4", "erin", t0)))
		list, err := st.ListInvites(ctx, alice, c.ID)
		if err != nil || len(list) != 2 || list[0].ID != inv2.ID || list[1].Uses != 2 || list[1].MaxUses != 2 || !list[1].ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("list = %+v, %v", list, err)
		}
		notFound(t, "participant lists", errOnly(st.ListInvites(ctx, bob, c.ID)))
	})
}
