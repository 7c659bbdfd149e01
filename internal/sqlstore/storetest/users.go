package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func newUser(email string, role gateway.Role) *gateway.User {
	return &gateway.User{Email: email, DisplayName: "D " + email, Role: role, Active: true, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
}

func testUsers(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("CreateAndGet", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		u := newUser("Alice@Example.com", gateway.RoleContributor)
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.ID == "" || u.CreatedAt.IsZero() {
			t.Fatalf("CreateUser did not fill ID/CreatedAt: %+v", u)
		}
		got, err := st.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "Alice@Example.com" || got.Role != gateway.RoleContributor || !got.Active || got.PasswordHash != u.PasswordHash || got.LastLoginAt != nil {
			t.Fatalf("User = %+v", got)
		}
		byEmail, err := st.UserByEmail(ctx, "alice@EXAMPLE.com")
		if err != nil || byEmail.ID != u.ID {
			t.Fatalf("UserByEmail (other case) = %+v, %v", byEmail, err)
		}
		if _, err := st.User(ctx, "missing"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("User(missing) err = %v, want ErrNotFound", err)
		}
		if _, err := st.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("UserByEmail(missing) err = %v, want ErrNotFound", err)
		}
	})
	t.Run("DuplicateEmailIgnoresCase", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		if err := st.CreateUser(ctx, newUser("bob@example.com", gateway.RoleViewer)); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(ctx, newUser("BOB@example.com", gateway.RoleViewer)); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("duplicate err = %v, want ErrConflict", err)
		}
	})
	t.Run("CreateFirstUserOnlyOnce", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		if any, err := st.AnyUsers(ctx); err != nil || any {
			t.Fatalf("AnyUsers on an empty store = %v, %v; want false", any, err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.CreateFirstUser(ctx, newUser(string(rune('a'+i))+"@example.com", gateway.RoleAdmin))
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, gateway.ErrConflict):
				t.Fatalf("CreateFirstUser err = %v", err)
			}
		}
		n, err := st.CountUsers(ctx)
		if ok != 1 || err != nil || n != 1 {
			t.Fatalf("created %d, count %d (%v); want exactly one", ok, n, err)
		}
		if any, err := st.AnyUsers(ctx); err != nil || !any {
			t.Fatalf("AnyUsers = %v, %v; want true", any, err)
		}
	})
	t.Run("ListPaginates", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		var ids []string
		for i := range 5 {
			u := newUser(string(rune('a'+i))+"@example.com", gateway.RoleViewer)
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, u.ID)
		}
		var got []string
		cursor := ""
		for range 10 {
			page, next, err := st.ListUsers(ctx, cursor, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page {
				got = append(got, u.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(got) != len(ids) {
			t.Fatalf("listed %v, want %v", got, ids)
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("listed %v, want creation order %v", got, ids)
			}
		}
	})
	t.Run("UpdateAndLastAdmin", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		a := newUser("admin@example.com", gateway.RoleAdmin)
		b := newUser("b@example.com", gateway.RoleContributor)
		for _, u := range []*gateway.User{a, b} {
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		viewer, no := gateway.RoleViewer, false
		if _, err := st.UpdateUser(ctx, a.ID, gateway.UserPatch{Role: &viewer}); !errors.Is(err, gateway.ErrLastAdmin) {
			t.Fatalf("demote last admin err = %v, want ErrLastAdmin", err)
		}
		if _, err := st.UpdateUser(ctx, a.ID, gateway.UserPatch{Active: &no}); !errors.Is(err, gateway.ErrLastAdmin) {
			t.Fatalf("deactivate last admin err = %v, want ErrLastAdmin", err)
		}
		admin, name := gateway.RoleAdmin, "Bee"
		got, err := st.UpdateUser(ctx, b.ID, gateway.UserPatch{Role: &admin, DisplayName: &name})
		if err != nil || got.Role != gateway.RoleAdmin || got.DisplayName != "Bee" {
			t.Fatalf("promote = %+v, %v", got, err)
		}
		got, err = st.UpdateUser(ctx, a.ID, gateway.UserPatch{Active: &no})
		if err != nil || got.Active {
			t.Fatalf("deactivate with another admin = %+v, %v", got, err)
		}
		if _, err := st.UpdateUser(ctx, "missing", gateway.UserPatch{Role: &viewer}); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("update missing err = %v, want ErrNotFound", err)
		}
	})
	t.Run("PatchMovesTokenWatermarkForwardOnly", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		u := newUser("w@example.com", gateway.RoleViewer)
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		no, yes := false, true
		va := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
		got, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{Active: &no, TokensValidAfter: &va})
		if err != nil || got.Active || !got.TokensValidAfter.Equal(va) {
			t.Fatalf("deactivate = %+v, %v; want inactive with watermark %v", got, err, va)
		}
		earlier := va.Add(-time.Hour)
		if _, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{Active: &yes, TokensValidAfter: &earlier}); err != nil {
			t.Fatal(err)
		}
		got, err = st.User(ctx, u.ID)
		if err != nil || !got.Active || !got.TokensValidAfter.Equal(va) {
			t.Fatalf("after reactivation = %+v, %v; want active with watermark still %v", got, err, va)
		}
	})
	t.Run("TokensPasswordLoginAndChanges", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		u := newUser("c@example.com", gateway.RoleViewer)
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		mark := time.Now().UTC().Add(-time.Second)
		va := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
		if err := st.RevokeTokens(ctx, u.ID, va); err != nil {
			t.Fatal(err)
		}
		if err := st.SetPasswordHash(ctx, u.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		login := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := st.RecordLogin(ctx, u.ID, login); err != nil {
			t.Fatal(err)
		}
		got, err := st.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.TokensValidAfter.Equal(va) {
			t.Fatalf("TokensValidAfter = %v, want %v (microseconds kept)", got.TokensValidAfter, va)
		}
		if got.PasswordHash != "new-hash" || got.LastLoginAt == nil || !got.LastLoginAt.Equal(login) {
			t.Fatalf("user = %+v", got)
		}
		changed, err := st.UsersChangedSince(ctx, mark)
		if err != nil || len(changed) != 1 || changed[0].ID != u.ID {
			t.Fatalf("UsersChangedSince = %+v, %v", changed, err)
		}
		changed, err = st.UsersChangedSince(ctx, time.Now().Add(time.Hour))
		if err != nil || len(changed) != 0 {
			t.Fatalf("UsersChangedSince(future) = %+v, %v", changed, err)
		}
		if err := st.RevokeTokens(ctx, "missing", va); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("RevokeTokens(missing) = %v, want ErrNotFound", err)
		}
	})
}
