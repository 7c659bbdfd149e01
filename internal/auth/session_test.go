package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
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
