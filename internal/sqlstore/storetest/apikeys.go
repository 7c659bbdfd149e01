package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testAPIKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	h := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	setup := func(t *testing.T) (st interface {
		gateway.APIKeyStore
		gateway.UserStore
	}, alice, bob string) {
		s := open(t)
		a, b := newUser("alice@example.com", gateway.RoleAdmin), newUser("bob@example.com", gateway.RoleContributor)
		if err := s.CreateUser(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, b); err != nil {
			t.Fatal(err)
		}
		return s, a.ID, b.ID
	}
	t.Run("CreateGetByHash", func(t *testing.T) {
		t.Parallel()
		st, alice, _ := setup(t)
		if ok, err := st.AnyAPIKeys(ctx); err != nil || ok {
			t.Fatalf("AnyAPIKeys before any key = %v, %v; want false", ok, err)
		}
		exp := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
		k := &gateway.APIKey{Name: "ci", Prefix: "abcdefgh", OwnerID: alice, Role: gateway.RoleViewer, EndUserMode: true, Hash: h("one"), ExpiresAt: &exp}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if k.ID == "" || k.CreatedAt.IsZero() {
			t.Fatalf("CreateAPIKey did not fill ID/CreatedAt: %+v", k)
		}
		got, err := st.APIKeyByHash(ctx, h("one"))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != k.ID || got.Name != "ci" || got.Prefix != "abcdefgh" || got.OwnerID != alice || got.Role != gateway.RoleViewer ||
			!got.EndUserMode || got.Hash != h("one") || got.PrevHash != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) ||
			got.RevokedAt != nil || got.LastUsedAt != nil {
			t.Fatalf("APIKeyByHash = %+v", got)
		}
		if _, err := st.APIKeyByHash(ctx, h("other")); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("unknown hash err = %v, want ErrNotFound", err)
		}
		if _, err := st.APIKey(ctx, "missing"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("missing id err = %v, want ErrNotFound", err)
		}
		dup := &gateway.APIKey{Name: "dup", Prefix: "x", OwnerID: alice, Role: gateway.RoleViewer, Hash: h("one")}
		if err := st.CreateAPIKey(ctx, dup); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("duplicate hash err = %v, want ErrConflict", err)
		}
		if n, err := st.CountAPIKeys(ctx); err != nil || n != 1 {
			t.Fatalf("CountAPIKeys = %d, %v", n, err)
		}
		if ok, err := st.AnyAPIKeys(ctx); err != nil || !ok {
			t.Fatalf("AnyAPIKeys = %v, %v; want true", ok, err)
		}
	})
	t.Run("ListByOwnerPaginated", func(t *testing.T) {
		t.Parallel()
		st, alice, bob := setup(t)
		var ids []string
		for i, owner := range []string{alice, bob, alice, alice} {
			k := &gateway.APIKey{Name: "k", Prefix: "p", OwnerID: owner, Role: gateway.RoleViewer, Hash: h(string(rune('a' + i)))}
			if err := st.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, k.ID)
		}
		page, next, err := st.ListAPIKeys(ctx, alice, "", 2)
		if err != nil || len(page) != 2 || page[0].ID != ids[0] || page[1].ID != ids[2] || next != ids[2] {
			t.Fatalf("page 1 = %v, %q, %v", page, next, err)
		}
		page, next, err = st.ListAPIKeys(ctx, alice, next, 2)
		if err != nil || len(page) != 1 || page[0].ID != ids[3] || next != "" {
			t.Fatalf("page 2 = %v, %q, %v", page, next, err)
		}
		all, _, err := st.ListAPIKeys(ctx, "", "", 50)
		if err != nil || len(all) != 4 {
			t.Fatalf("all = %d, %v", len(all), err)
		}
	})
	t.Run("RevokeOwnerScoped", func(t *testing.T) {
		t.Parallel()
		st, alice, bob := setup(t)
		k := &gateway.APIKey{Name: "k", Prefix: "p", OwnerID: alice, Role: gateway.RoleViewer, Hash: h("k")}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := st.RevokeAPIKey(ctx, k.ID, bob, at); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("revoke by other owner err = %v, want ErrNotFound", err)
		}
		got, err := st.RevokeAPIKey(ctx, k.ID, alice, at)
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(at) {
			t.Fatalf("revoke = %+v, %v", got, err)
		}
		got, err = st.RevokeAPIKey(ctx, k.ID, "", at.Add(time.Hour))
		if err != nil || !got.RevokedAt.Equal(at) {
			t.Fatalf("second revoke moved revoked_at: %+v, %v", got.RevokedAt, err)
		}
		if _, err := st.RotateAPIKey(ctx, k.ID, "", h("new"), "n", nil); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("rotate revoked err = %v, want ErrNotFound", err)
		}
	})
	t.Run("RotateWithAndWithoutGrace", func(t *testing.T) {
		t.Parallel()
		st, alice, bob := setup(t)
		k := &gateway.APIKey{Name: "k", Prefix: "old", OwnerID: alice, Role: gateway.RoleViewer, Hash: h("v1")}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RotateAPIKey(ctx, k.ID, bob, h("v2"), "new", nil); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("rotate by other owner err = %v", err)
		}
		until := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		got, err := st.RotateAPIKey(ctx, k.ID, alice, h("v2"), "new", &until)
		if err != nil || got.Hash != h("v2") || got.PrevHash == nil || *got.PrevHash != h("v1") || !got.PrevValidUntil.Equal(until) || got.Prefix != "new" {
			t.Fatalf("rotate with grace = %+v, %v", got, err)
		}
		for _, secret := range []string{"v1", "v2"} {
			if byHash, err := st.APIKeyByHash(ctx, h(secret)); err != nil || byHash.ID != k.ID {
				t.Fatalf("by hash %s = %+v, %v", secret, byHash, err)
			}
		}
		got, err = st.RotateAPIKey(ctx, k.ID, "", h("v3"), "newer", nil)
		if err != nil || got.PrevHash != nil || got.PrevValidUntil != nil {
			t.Fatalf("rotate without grace = %+v, %v", got, err)
		}
		if _, err := st.APIKeyByHash(ctx, h("v2")); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("old hash after rotation without grace: %v", err)
		}
	})
	t.Run("ChangedSinceAndTouch", func(t *testing.T) {
		t.Parallel()
		st, alice, _ := setup(t)
		k := &gateway.APIKey{Name: "k", Prefix: "p", OwnerID: alice, Role: gateway.RoleViewer, Hash: h("k")}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		since := k.UpdatedAt.Add(time.Microsecond)
		if got, err := st.APIKeysChangedSince(ctx, since); err != nil || len(got) != 0 {
			t.Fatalf("changed since after create = %v, %v", got, err)
		}
		t1 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
		if err := st.TouchAPIKeys(ctx, map[string]time.Time{k.ID: t1}); err != nil {
			t.Fatal(err)
		}
		if err := st.TouchAPIKeys(ctx, map[string]time.Time{k.ID: t1.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		got, err := st.APIKey(ctx, k.ID)
		if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(t1) {
			t.Fatalf("last_used_at = %v, %v; want %v", got.LastUsedAt, err, t1)
		}
		if got, err := st.APIKeysChangedSince(ctx, since); err != nil || len(got) != 0 {
			t.Fatalf("a touch counted as a change: %v, %v", got, err)
		}
		if _, err := st.RevokeAPIKey(ctx, k.ID, "", t1); err != nil {
			t.Fatal(err)
		}
		if got, err := st.APIKeysChangedSince(ctx, since); err != nil || len(got) != 1 || got[0].RevokedAt == nil {
			t.Fatalf("changed since after revoke = %v, %v", got, err)
		}
	})
	// One call writes many keys (the auth cache flushes every key used
	// in a tick at once), each its own time, never moving one backwards.
	t.Run("TouchManyKeys", func(t *testing.T) {
		t.Parallel()
		st, alice, _ := setup(t)
		const n = 600
		base := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
		used := map[string]time.Time{}
		var ids []string
		for i := range n {
			k := &gateway.APIKey{Name: "k", Prefix: "p", OwnerID: alice, Role: gateway.RoleViewer, Hash: h(fmt.Sprint("many", i))}
			if err := st.CreateAPIKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, k.ID)
			used[k.ID] = base.Add(time.Duration(i) * time.Second)
		}
		if err := st.TouchAPIKeys(ctx, used); err != nil {
			t.Fatal(err)
		}
		// An older time for the first key and a newer one for the second.
		if err := st.TouchAPIKeys(ctx, map[string]time.Time{ids[0]: base.Add(-time.Hour), ids[1]: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		used[ids[1]] = base.Add(time.Hour)
		for _, id := range ids {
			got, err := st.APIKey(ctx, id)
			if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(used[id]) {
				t.Fatalf("key %s: last_used_at = %v, %v; want %v", id, got.LastUsedAt, err, used[id])
			}
		}
	})
}
