package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testUserIdentities(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("CreateUserWithIdentity", func(t *testing.T) {
		st := open(t)
		u := &gateway.User{Email: "ext@example.com", DisplayName: "Ext", Role: gateway.RoleViewer, Active: true}
		id := &gateway.UserIdentity{Provider: "corp", Subject: "sub-1", Email: "ext@example.com"}
		if err := st.CreateUserWithIdentity(ctx, u, id); err != nil {
			t.Fatal(err)
		}
		if u.ID == "" || id.UserID != u.ID || id.CreatedAt.IsZero() {
			t.Fatalf("ids not filled: user %+v identity %+v", u, id)
		}
		got, err := st.UserIdentity(ctx, "corp", "sub-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != u.ID || got.Email != "ext@example.com" || got.LastLoginAt != nil || !got.CreatedAt.Equal(id.CreatedAt) {
			t.Fatalf("UserIdentity = %+v", got)
		}
		stored, err := st.User(ctx, u.ID)
		if err != nil || stored.PasswordHash != "" || stored.Role != gateway.RoleViewer {
			t.Fatalf("User = %+v, %v; want no password, viewer", stored, err)
		}
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		st := open(t)
		if _, err := st.UserIdentity(ctx, "corp", "nobody"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if err := st.RecordIdentityLogin(ctx, "corp", "nobody", "x@example.com", time.Now()); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("RecordIdentityLogin err = %v, want ErrNotFound", err)
		}
		err := st.LinkUserIdentity(ctx, &gateway.UserIdentity{Provider: "corp", Subject: "s", UserID: "00000000-0000-4000-8000-000000000000"})
		if !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("LinkUserIdentity(missing user) err = %v, want ErrNotFound", err)
		}
	})
	t.Run("SubjectIsPerProvider", func(t *testing.T) {
		st := open(t)
		a := newUser("a@example.com", gateway.RoleContributor)
		if err := st.CreateUser(ctx, a); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"corp", "github"} {
			if err := st.LinkUserIdentity(ctx, &gateway.UserIdentity{Provider: p, Subject: "42", UserID: a.ID}); err != nil {
				t.Fatalf("link %s: %v", p, err)
			}
		}
		ids, err := st.UserIdentities(ctx, a.ID)
		if err != nil || len(ids) != 2 {
			t.Fatalf("UserIdentities = %+v, %v; want 2", ids, err)
		}
		other, err := st.UserIdentities(ctx, "00000000-0000-4000-8000-000000000000")
		if err != nil || len(other) != 0 {
			t.Fatalf("UserIdentities(other) = %+v, %v; want none", other, err)
		}
	})
	t.Run("ConflictsStoreNothing", func(t *testing.T) {
		st := open(t)
		a := newUser("taken@example.com", gateway.RoleContributor)
		if err := st.CreateUser(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := st.LinkUserIdentity(ctx, &gateway.UserIdentity{Provider: "corp", Subject: "s1", UserID: a.ID}); err != nil {
			t.Fatal(err)
		}
		// The same identity again, for anyone: conflict.
		if err := st.LinkUserIdentity(ctx, &gateway.UserIdentity{Provider: "corp", Subject: "s1", UserID: a.ID}); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("relink err = %v, want ErrConflict", err)
		}
		// A new user whose email is taken: conflict, and the identity is
		// not stored either.
		u := &gateway.User{Email: "TAKEN@example.com", Role: gateway.RoleViewer, Active: true}
		if err := st.CreateUserWithIdentity(ctx, u, &gateway.UserIdentity{Provider: "corp", Subject: "s2"}); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("email taken err = %v, want ErrConflict", err)
		}
		if _, err := st.UserIdentity(ctx, "corp", "s2"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("identity of the failed create: err = %v, want ErrNotFound", err)
		}
		// A new user for an identity linked already: conflict, and the
		// user is not stored.
		v := &gateway.User{Email: "fresh@example.com", Role: gateway.RoleViewer, Active: true}
		if err := st.CreateUserWithIdentity(ctx, v, &gateway.UserIdentity{Provider: "corp", Subject: "s1"}); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("identity taken err = %v, want ErrConflict", err)
		}
		if _, err := st.UserByEmail(ctx, "fresh@example.com"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("user of the failed create: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("RecordIdentityLogin", func(t *testing.T) {
		st := open(t)
		u := &gateway.User{Email: "l@example.com", Role: gateway.RoleViewer, Active: true}
		if err := st.CreateUserWithIdentity(ctx, u, &gateway.UserIdentity{Provider: "gh", Subject: "7", Email: "old@example.com"}); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
		if err := st.RecordIdentityLogin(ctx, "gh", "7", "new@example.com", at); err != nil {
			t.Fatal(err)
		}
		id, err := st.UserIdentity(ctx, "gh", "7")
		if err != nil || id.LastLoginAt == nil || !id.LastLoginAt.Equal(at) || id.Email != "new@example.com" {
			t.Fatalf("identity = %+v, %v", id, err)
		}
		got, err := st.User(ctx, u.ID)
		if err != nil || got.LastLoginAt == nil || !got.LastLoginAt.Equal(at) {
			t.Fatalf("user last_login_at = %v, %v; want %v", got.LastLoginAt, err, at)
		}
	})
}
