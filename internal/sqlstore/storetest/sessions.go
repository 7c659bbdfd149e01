package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testSessions(t *testing.T, open Opener) {
	ctx := context.Background()
	h := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	mk := func(user, secret string, at time.Time) *gateway.Session {
		return &gateway.Session{UserID: user, TokenHash: h(secret), CSRFHash: h("csrf-" + secret), CreatedAt: at, LastSeenAt: at,
			IdleExpiresAt: at.Add(8 * time.Hour), ExpiresAt: at.Add(7 * 24 * time.Hour), UserAgent: "UA " + secret, IP: "192.0.2.1"}
	}
	setup := func(t *testing.T) (st interface {
		gateway.SessionStore
		gateway.UserStore
	}, alice, bob string) {
		s := open(t)
		a, b := newUser("alice@example.com", gateway.RoleAdmin), newUser("bob@example.com", gateway.RoleViewer)
		for _, u := range []*gateway.User{a, b} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		return s, a.ID, b.ID
	}
	t.Run("CreateGetByHash", func(t *testing.T) {
		st, alice, _ := setup(t)
		s := mk(alice, "one", t0)
		if err := st.CreateSession(ctx, s, 5); err != nil {
			t.Fatal(err)
		}
		if s.ID == "" {
			t.Fatal("CreateSession did not fill ID")
		}
		got, err := st.SessionByHash(ctx, h("one"))
		if err != nil {
			t.Fatal(err)
		}
		want := *s
		if got != want {
			t.Fatalf("SessionByHash =\n%+v\nwant\n%+v", got, want)
		}
		if _, err := st.SessionByHash(ctx, h("other")); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("unknown hash err = %v, want ErrNotFound", err)
		}
		if err := st.CreateSession(ctx, mk(alice, "one", t0), 5); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("duplicate secret err = %v, want ErrConflict", err)
		}
	})
	t.Run("RotateOnlyFromCurrentSecret", func(t *testing.T) {
		st, alice, _ := setup(t)
		s := mk(alice, "one", t0)
		if err := st.CreateSession(ctx, s, 5); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Hour)
		if err := st.RotateSession(ctx, s.ID, h("one"), h("two"), h("csrf2"), later, later.Add(8*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SessionByHash(ctx, h("one")); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("old secret after rotation err = %v, want ErrNotFound", err)
		}
		got, err := st.SessionByHash(ctx, h("two"))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != s.ID || got.CSRFHash != h("csrf2") || !got.LastSeenAt.Equal(later) || !got.IdleExpiresAt.Equal(later.Add(8*time.Hour)) ||
			!got.ExpiresAt.Equal(s.ExpiresAt) || !got.CreatedAt.Equal(t0) {
			t.Fatalf("rotated session = %+v", got)
		}
		// A second rotation from the old secret (a concurrent refresh) loses.
		if err := st.RotateSession(ctx, s.ID, h("one"), h("three"), h("csrf3"), later, later); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("rotation from a stale secret err = %v, want ErrNotFound", err)
		}
	})
	t.Run("TouchNeverMovesBack", func(t *testing.T) {
		st, alice, _ := setup(t)
		s := mk(alice, "one", t0)
		if err := st.CreateSession(ctx, s, 5); err != nil {
			t.Fatal(err)
		}
		t1 := t0.Add(2 * time.Minute)
		if err := st.TouchSession(ctx, s.ID, t1, t1.Add(8*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.TouchSession(ctx, s.ID, t0.Add(time.Minute), t0.Add(time.Minute+8*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := st.SessionByHash(ctx, h("one"))
		if err != nil || !got.LastSeenAt.Equal(t1) || !got.IdleExpiresAt.Equal(t1.Add(8*time.Hour)) {
			t.Fatalf("touched session = %+v, %v", got, err)
		}
	})
	t.Run("MaxPerUserEvictsOldest", func(t *testing.T) {
		st, alice, bob := setup(t)
		var ids []string
		for i := range 6 {
			s := mk(alice, string(rune('a'+i)), t0.Add(time.Duration(i)*time.Second))
			if err := st.CreateSession(ctx, s, 5); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID)
		}
		if err := st.CreateSession(ctx, mk(bob, "bob", t0), 5); err != nil {
			t.Fatal(err)
		}
		list, err := st.ListSessions(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 5 {
			t.Fatalf("alice has %d sessions, want 5", len(list))
		}
		for i, s := range list { // newest first
			if s.ID != ids[5-i] {
				t.Fatalf("list[%d] = %s, want %s", i, s.ID, ids[5-i])
			}
		}
		if _, err := st.SessionByHash(ctx, h("a")); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("oldest session still there: %v", err)
		}
		if l, _ := st.ListSessions(ctx, bob); len(l) != 1 {
			t.Fatalf("bob has %d sessions, want 1", len(l))
		}
	})
	t.Run("CreateDropsEndedSessions", func(t *testing.T) {
		st, alice, _ := setup(t)
		if err := st.CreateSession(ctx, mk(alice, "old", t0), 0); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateSession(ctx, mk(alice, "new", t0.Add(9*time.Hour)), 0); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.ListSessions(ctx, alice); len(l) != 1 || l[0].TokenHash != h("new") {
			t.Fatalf("sessions = %+v, want only the new one", l)
		}
	})
	t.Run("DeleteOwnOnly", func(t *testing.T) {
		st, alice, bob := setup(t)
		a, b := mk(alice, "a", t0), mk(bob, "b", t0)
		for _, s := range []*gateway.Session{a, b} {
			if err := st.CreateSession(ctx, s, 5); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.DeleteSession(ctx, b.ID, alice); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("deleting another user's session err = %v, want ErrNotFound", err)
		}
		if err := st.DeleteSession(ctx, a.ID, alice); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteSession(ctx, a.ID, alice); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("second delete err = %v, want ErrNotFound", err)
		}
		if err := st.DeleteSession(ctx, b.ID, ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("DeleteEndedSessions", func(t *testing.T) {
		st, alice, bob := setup(t)
		live := mk(alice, "live", t0)
		idle := mk(alice, "idle", t0)
		idle.IdleExpiresAt = t0.Add(time.Hour)
		absolute := mk(bob, "absolute", t0)
		absolute.ExpiresAt = t0.Add(2 * time.Hour) // idle deadline later than the end: either ends it
		atNow := mk(bob, "at-now", t0)
		atNow.IdleExpiresAt = t0.Add(3 * time.Hour)
		for _, s := range []*gateway.Session{live, idle, absolute, atNow} {
			if err := st.CreateSession(ctx, s, 0); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.DeleteEndedSessions(ctx, t0.Add(time.Hour-time.Microsecond)); err != nil || n != 0 {
			t.Fatalf("DeleteEndedSessions before any end = %d, %v; want 0", n, err)
		}
		if n, err := st.DeleteEndedSessions(ctx, t0.Add(3*time.Hour)); err != nil || n != 3 {
			t.Fatalf("DeleteEndedSessions = %d, %v; want 3 (idle, absolute, and the one ending exactly now)", n, err)
		}
		for _, s := range []string{"idle", "absolute", "at-now"} {
			if _, err := st.SessionByHash(ctx, h(s)); !errors.Is(err, gateway.ErrNotFound) {
				t.Fatalf("session %s: err = %v, want ErrNotFound", s, err)
			}
		}
		if got, err := st.SessionByHash(ctx, h("live")); err != nil || got.ID != live.ID {
			t.Fatalf("live session = %+v, %v", got, err)
		}
		if n, err := st.DeleteEndedSessions(ctx, t0.Add(3*time.Hour)); err != nil || n != 0 {
			t.Fatalf("second sweep = %d, %v; want 0", n, err)
		}
	})
	t.Run("DeleteUserSessionsExcept", func(t *testing.T) {
		st, alice, bob := setup(t)
		var keep string
		for i := range 3 {
			s := mk(alice, string(rune('a'+i)), t0.Add(time.Duration(i)*time.Second))
			if err := st.CreateSession(ctx, s, 5); err != nil {
				t.Fatal(err)
			}
			keep = s.ID
		}
		if err := st.CreateSession(ctx, mk(bob, "bob", t0), 5); err != nil {
			t.Fatal(err)
		}
		if n, err := st.DeleteUserSessions(ctx, alice, keep); err != nil || n != 2 {
			t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
		}
		if l, _ := st.ListSessions(ctx, alice); len(l) != 1 || l[0].ID != keep {
			t.Fatalf("alice's sessions = %+v", l)
		}
		if n, err := st.DeleteUserSessions(ctx, alice, ""); err != nil || n != 1 {
			t.Fatalf("DeleteUserSessions all = %d, %v; want 1", n, err)
		}
		if l, _ := st.ListSessions(ctx, bob); len(l) != 1 {
			t.Fatalf("bob's sessions = %+v", l)
		}
	})
}
