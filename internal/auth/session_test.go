package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// failingRotate is a session store whose RotateSession fails.
type failingRotate struct{ gateway.SessionStore }

func (failingRotate) RotateSession(context.Context, string, [32]byte, [32]byte, [32]byte, time.Time, time.Time) error {
	return errors.New("store down")
}

// TestChangePasswordEndsSessionWhenRenewalFails: the password has changed
// but the current session could not be renewed, so it is ended (cookies
// cleared, row gone) rather than living on with its pre-change id.
func TestChangePasswordEndsSessionWhenRenewalFails(t *testing.T) {
	ctx := context.Background()
	st := sqltest.SQLite(t)
	tokens, err := NewTokens(ctx, TokensOptions{Keys: st, Issuer: "tollgate", Audience: "tollgate"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Users: st, Tokens: tokens, Mode: ModeRequired, Loopback: true, Password: cheap, TokenTTL: time.Hour,
		Sessions: failingRotate{st}, SessionIdle: time.Hour, SessionAbsolute: 24 * time.Hour})
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Setup(ctx, gateway.NewUser{Email: "a@example.com", Password: "first pass 1"}); err != nil {
		t.Fatal(err)
	}
	lw := httptest.NewRecorder()
	_, sess, err := s.LoginSession(ctx, lw, httptest.NewRequest("POST", "/api/auth/sessions", nil), "a@example.com", "first pass 1")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("PUT", "/api/auth/password", nil)
	r.Header.Set("Cookie", SessionCookie+"="+sess.Token.Reveal())
	r.Header.Set(CSRFHeader, sess.CSRFToken.Reveal())
	p, err := s.Authenticate(r)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	rotated, err := s.ChangePassword(ctx, w, r, p, "first pass 1", "second pass 2")
	if rotated || err != nil {
		t.Fatalf("ChangePassword = %v, %v; want false, nil (the change stands)", rotated, err)
	}
	want := SessionCookie + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax\n" + CSRFCookie + "=; Path=/; Max-Age=0; SameSite=Strict"
	if got := strings.Join(w.Result().Header["Set-Cookie"], "\n"); got != want {
		t.Fatalf("Set-Cookie =\n%s\nwant\n%s", got, want)
	}
	if list, err := st.ListSessions(ctx, p.UserID); err != nil || len(list) != 0 {
		t.Fatalf("sessions after the failed renewal = %v, %v; want none", list, err)
	}
	if _, err := s.Login(ctx, "a@example.com", "second pass 2"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

// sweepRecorder is a session store that records DeleteEndedSessions.
type sweepRecorder struct {
	gateway.SessionStore
	mu    sync.Mutex
	calls []time.Time
}

func (r *sweepRecorder) DeleteEndedSessions(_ context.Context, now time.Time) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, now)
	return 2, nil
}

func (r *sweepRecorder) swept() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time{}, r.calls...)
}

// TestRunSweepsEndedSessions: the identity service's background loop
// deletes ended sessions every SessionSweepInterval (default 10 minutes),
// as of the session clock.
func TestRunSweepsEndedSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &sweepRecorder{}
		s := New(Options{Sessions: rec, CacheSyncInterval: time.Hour, Password: cheap})
		if s.opt.SessionSweepInterval != DefaultSessionSweepInterval || DefaultSessionSweepInterval != 10*time.Minute {
			t.Fatalf("sweep interval = %v, want the 10 minute default", s.opt.SessionSweepInterval)
		}
		start := time.Now().UTC()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.Run(ctx) }()
		time.Sleep(10*time.Minute - time.Nanosecond)
		synctest.Wait()
		if got := rec.swept(); len(got) != 0 {
			t.Fatalf("swept before the interval: %v", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		want := []time.Time{start.Add(10 * time.Minute), start.Add(20 * time.Minute)}
		if got := rec.swept(); len(got) != 2 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
			t.Fatalf("sweeps at %v, want %v", got, want)
		}
		cancel()
		<-done
	})
}

// TestSweepSessionsUsesSessionClock: SweepSessions asks the store for the
// sessions ended as of the session clock (SetSessionClock), not the wall
// clock, and reports the count.
func TestSweepSessionsUsesSessionClock(t *testing.T) {
	rec := &sweepRecorder{}
	s := New(Options{Sessions: rec, Password: cheap})
	at := time.Date(2031, 2, 3, 4, 5, 6, 7008000, time.UTC)
	s.SetSessionClock(func() time.Time { return at })
	n, err := s.SweepSessions(context.Background())
	if got := rec.swept(); n != 2 || err != nil || len(got) != 1 || !got[0].Equal(at) {
		t.Fatalf("SweepSessions = %d, %v; store asked at %v, want 2, nil, [%v]", n, err, got, at)
	}
	if n, err := New(Options{Password: cheap}).SweepSessions(context.Background()); n != 0 || err != nil {
		t.Fatalf("SweepSessions without a session store = %d, %v", n, err)
	}
}
