package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// CSRFCookie is the script-readable cookie that carries the session's CSRF
// token; CSRFHeader is the header a cookie request with an unsafe method
// must echo it in (SPEC 4).
const (
	CSRFCookie = "tollgate_csrf"
	CSRFHeader = "X-CSRF-Token"
)

// SessionTouchInterval is how often a session's idle deadline is written
// back: a cookie request at least this long after the last write moves it.
const SessionTouchInterval = time.Minute

// DefaultSessionSweepInterval is how often Service.Run deletes ended
// sessions. An ended session is refused whether or not its row is still
// there; the sweep only keeps the table small (a session nobody uses
// again is never touched by a request).
const DefaultSessionSweepInterval = 10 * time.Minute

// maxUserAgent bounds the stored User-Agent.
const maxUserAgent = 512

var (
	errSessionExpired = gateway.E(gateway.KindUnauthenticated, "session_expired", "The session has ended; sign in again")
	errCSRF           = gateway.E(gateway.KindPermission, "csrf_failed",
		"A cookie-authenticated request that changes state must send the X-CSRF-Token header and come from the same site")
	errNoSessions = errors.New("sessions are not configured")
)

// sessionConfig is what New derives from the session options.
type sessionConfig struct {
	cookie string // SessionCookie or SecureSessionCookie
	secure bool
	cop    *http.CrossOriginProtection
}

func newSessionConfig(publicURL string) (sessionConfig, error) {
	c := sessionConfig{cookie: SessionCookie, cop: http.NewCrossOriginProtection()}
	if publicURL == "" {
		return c, nil
	}
	u, err := url.Parse(publicURL)
	if err != nil {
		return c, err
	}
	if u.Scheme == "https" {
		c.cookie, c.secure = SecureSessionCookie, true
	}
	if err := c.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
		return c, err
	}
	return c, nil
}

// SessionCookieName is the name of the session cookie (with the __Host-
// prefix when server.public_url is https).
func (s *Service) SessionCookieName() string { return s.sess.cookie }

// newSessionSecret returns 256 random bits as base64url and their SHA-256.
func newSessionSecret() (gateway.Secret, [32]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [32]byte{}, err
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	return gateway.Secret(v), sha256.Sum256([]byte(v)), nil
}

func (s *Service) now() time.Time {
	now := s.opt.Now
	if p := s.sessNow.Load(); p != nil {
		now = *p
	}
	return now().UTC().Truncate(time.Microsecond)
}

// SetSessionClock replaces the clock of session deadlines (tests: idle and
// absolute expiry without waiting).
func (s *Service) SetSessionClock(now func() time.Time) { s.sessNow.Store(&now) }

// idleUntil is the idle deadline of a session used at now.
func (s *Service) idleUntil(now, expires time.Time) time.Time {
	t := now.Add(s.opt.SessionIdle)
	if t.After(expires) {
		return expires
	}
	return t
}

// StartSession signs u in with a new browser session, exactly as the
// password login does: it stores the session (evicting the user's oldest
// beyond auth.max_sessions_per_user) and sets the tollgate_session and
// tollgate_csrf cookies on w. The returned session carries the plain
// Token and CSRFToken (for the response body's csrf_token). OAuth sign-in
// calls it after it has found or created the user. Errors: 401
// invalid_credentials for an inactive user, 500 when the store fails.
func (s *Service) StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u gateway.User) (gateway.Session, error) {
	if s.opt.Sessions == nil {
		return gateway.Session{}, gateway.Internal("start session", errNoSessions)
	}
	if !u.Active {
		return gateway.Session{}, errInvalidCredentials
	}
	tok, th, err := newSessionSecret()
	if err != nil {
		return gateway.Session{}, gateway.Internal("start session", err)
	}
	csrf, ch, err := newSessionSecret()
	if err != nil {
		return gateway.Session{}, gateway.Internal("start session", err)
	}
	now := s.now()
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	ip := ""
	if s.opt.ClientIP != nil {
		ip = s.opt.ClientIP(r)
	}
	exp := now.Add(s.opt.SessionAbsolute)
	sess := gateway.Session{UserID: u.ID, TokenHash: th, CSRFHash: ch, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: s.idleUntil(now, exp), ExpiresAt: exp, UserAgent: ua, IP: ip}
	if err := s.opt.Sessions.CreateSession(ctx, &sess, s.opt.MaxSessionsPerUser); err != nil {
		return gateway.Session{}, gateway.Internal("start session", err)
	}
	sess.Token, sess.CSRFToken = tok, csrf
	s.setSessionCookies(w, sess, now)
	return sess, nil
}

// LoginSession checks an email and password like Login (same limiter
// slots, same 401 invalid_credentials) and starts a session (POST
// /api/auth/sessions).
func (s *Service) LoginSession(ctx context.Context, w http.ResponseWriter, r *http.Request, email string, password gateway.Secret) (gateway.User, gateway.Session, error) {
	u, err := s.checkPassword(ctx, email, password, true)
	if err != nil {
		return u, gateway.Session{}, err
	}
	sess, err := s.StartSession(ctx, w, r, u)
	return u, sess, err
}

func (s *Service) setSessionCookies(w http.ResponseWriter, sess gateway.Session, now time.Time) {
	maxAge := int(sess.ExpiresAt.Sub(now) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{Name: s.sess.cookie, Value: sess.Token.Reveal(), Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.sess.secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: sess.CSRFToken.Reveal(), Path: "/", MaxAge: maxAge,
		Secure: s.sess.secure, SameSite: http.SameSiteStrictMode})
}

// ClearSessionCookies expires both session cookies on w (same attributes,
// Max-Age=0).
func (s *Service) ClearSessionCookies(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.sess.cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.sess.secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: s.sess.secure, SameSite: http.SameSiteStrictMode})
}

// HasSessionCookie reports whether r carries a non-empty session cookie.
func (s *Service) HasSessionCookie(r *http.Request) bool {
	for _, c := range r.CookiesNamed(s.sess.cookie) {
		if c.Value != "" {
			return true
		}
	}
	return false
}

// unsafeMethod reports whether a method may change state (SPEC 4).
func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// authenticateSession resolves a session cookie: 401 invalid_authorization
// for an unknown (ended, rotated, evicted) session or an inactive user, 401
// session_expired past the idle or absolute deadline, 403 csrf_failed for
// an unsafe method without the session's X-CSRF-Token or from another site.
// The store is asked on every request, so a session ended on one instance
// is dead on all at once. The idle deadline is written at most once per
// SessionTouchInterval.
func (s *Service) authenticateSession(r *http.Request, cred Credential) (*gateway.Principal, error) {
	if s.opt.Sessions == nil {
		return nil, errInvalidToken
	}
	ctx := r.Context()
	sess, err := s.opt.Sessions.SessionByHash(ctx, sha256.Sum256([]byte(cred.Value.Reveal())))
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, errInvalidToken
		}
		return nil, gateway.Internal("authenticate session", err)
	}
	now := s.now()
	if !now.Before(sess.IdleExpiresAt) || !now.Before(sess.ExpiresAt) {
		return nil, errSessionExpired
	}
	u, err := s.user(ctx, sess.UserID)
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, errInvalidToken
		}
		return nil, gateway.Internal("authenticate session", err)
	}
	if !u.Active {
		return nil, errInvalidToken
	}
	if unsafeMethod(r.Method) {
		got := sha256.Sum256([]byte(r.Header.Get(CSRFHeader)))
		if r.Header.Get(CSRFHeader) == "" || subtle.ConstantTimeCompare(got[:], sess.CSRFHash[:]) != 1 || s.sess.cop.Check(r) != nil {
			return nil, errCSRF
		}
	}
	if now.Sub(sess.LastSeenAt) >= SessionTouchInterval {
		if err := s.opt.Sessions.TouchSession(ctx, sess.ID, now, s.idleUntil(now, sess.ExpiresAt)); err != nil {
			s.opt.Log.WarnContext(ctx, "extend session idle deadline", "user_id", sess.UserID, "err", err)
		}
	}
	p := UserPrincipal(u)
	p.SessionID = sess.ID
	return p, nil
}

// RefreshSession rotates the secret and CSRF token of the caller's
// session and moves its idle deadline (SPEC 4). The caller has already
// authenticated with the cookie (so the session was alive and the CSRF
// check passed). Errors: 401 session_expired when the request has no
// session or it ended meanwhile (the cookies are then cleared).
func (s *Service) RefreshSession(ctx context.Context, w http.ResponseWriter, r *http.Request, p *gateway.Principal) (gateway.User, gateway.Session, error) {
	fail := func() (gateway.User, gateway.Session, error) {
		s.ClearSessionCookies(w)
		return gateway.User{}, gateway.Session{}, errSessionExpired
	}
	c, err := r.Cookie(s.sess.cookie)
	if p == nil || p.SessionID == "" || s.opt.Sessions == nil || err != nil {
		return fail()
	}
	old := sha256.Sum256([]byte(c.Value))
	sess, err := s.opt.Sessions.SessionByHash(ctx, old)
	if errors.Is(err, gateway.ErrNotFound) || err == nil && sess.ID != p.SessionID {
		return fail()
	} else if err != nil {
		return gateway.User{}, gateway.Session{}, gateway.Internal("refresh session", err)
	}
	tok, th, err := newSessionSecret()
	if err != nil {
		return gateway.User{}, gateway.Session{}, gateway.Internal("refresh session", err)
	}
	csrf, ch, err := newSessionSecret()
	if err != nil {
		return gateway.User{}, gateway.Session{}, gateway.Internal("refresh session", err)
	}
	now := s.now()
	if !now.Before(sess.IdleExpiresAt) || !now.Before(sess.ExpiresAt) {
		return fail()
	}
	idle := s.idleUntil(now, sess.ExpiresAt)
	if err := s.opt.Sessions.RotateSession(ctx, sess.ID, old, th, ch, now, idle); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return fail()
		}
		return gateway.User{}, gateway.Session{}, gateway.Internal("refresh session", err)
	}
	sess.TokenHash, sess.CSRFHash, sess.LastSeenAt, sess.IdleExpiresAt = th, ch, now, idle
	sess.Token, sess.CSRFToken = tok, csrf
	u, err := s.user(ctx, sess.UserID)
	if err != nil {
		return u, sess, gateway.Internal("refresh session", err)
	}
	s.setSessionCookies(w, sess, now)
	return u, sess, nil
}

// EndSession ends the caller's session and clears the cookies (POST
// /api/auth/logout with a cookie).
func (s *Service) EndSession(ctx context.Context, w http.ResponseWriter, p *gateway.Principal) error {
	s.ClearSessionCookies(w)
	if p == nil || p.SessionID == "" || s.opt.Sessions == nil {
		return nil
	}
	err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return one(gateway.AuditEvent{Action: gateway.AuditLogout, Target: userRef(p.UserID), Details: map[string]any{"credential": "session"}},
			s.opt.Sessions.DeleteSession(ctx, p.SessionID, p.UserID))
	})
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return gateway.Internal("end session", err)
	}
	return nil
}

// ListSessions returns the caller's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, p *gateway.Principal) ([]gateway.Session, error) {
	if s.opt.Sessions == nil || p.UserID == "" || p.Kind != gateway.PrincipalUser {
		return []gateway.Session{}, nil
	}
	all, err := s.opt.Sessions.ListSessions(ctx, p.UserID)
	if err != nil {
		return nil, gateway.Internal("list sessions", err)
	}
	now := s.now()
	live := all[:0]
	for _, sess := range all {
		if now.Before(sess.IdleExpiresAt) && now.Before(sess.ExpiresAt) {
			live = append(live, sess)
		}
	}
	return live, nil
}

var errSessionNotFound = gateway.NotFound("not_found", "No such session")

// RevokeSession ends one of the caller's sessions (404 not_found for
// another user's or an unknown id); ending the current one clears the
// cookies.
func (s *Service) RevokeSession(ctx context.Context, w http.ResponseWriter, p *gateway.Principal, id string) error {
	if s.opt.Sessions == nil || p.UserID == "" || p.Kind != gateway.PrincipalUser {
		return errSessionNotFound
	}
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return one(gateway.AuditEvent{Action: gateway.AuditSessionRevoked, Target: userRef(p.UserID)},
			s.opt.Sessions.DeleteSession(ctx, id, p.UserID))
	}); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return errSessionNotFound
		}
		return gateway.Internal("revoke session", err)
	}
	if id == p.SessionID {
		s.ClearSessionCookies(w)
	}
	return nil
}

// RevokeOtherSessions ends every session of the caller but the current
// one (all of them when the caller uses a JWT).
func (s *Service) RevokeOtherSessions(ctx context.Context, p *gateway.Principal) error {
	if s.opt.Sessions == nil || p.UserID == "" || p.Kind != gateway.PrincipalUser {
		return nil
	}
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		n, err := s.opt.Sessions.DeleteUserSessions(ctx, p.UserID, p.SessionID)
		return one(gateway.AuditEvent{Action: gateway.AuditSessionRevoked, Target: userRef(p.UserID), Details: map[string]any{"sessions": n, "all_but_current": true}}, err)
	}); err != nil {
		return gateway.Internal("revoke sessions", err)
	}
	return nil
}

// RevokeUserSessions ends every session of user id (the admin's POST
// /api/admin/users/{id}/sessions/revoke): 404 not_found for no such user.
func (s *Service) RevokeUserSessions(ctx context.Context, id string) error {
	if _, err := s.opt.Users.User(ctx, id); err != nil {
		return mapStoreErr("revoke user sessions", err)
	}
	return s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return one(gateway.AuditEvent{Action: gateway.AuditSessionRevoked, Target: userRef(id), Details: map[string]any{"all": true}},
			s.endUserSessions(ctx, id, ""))
	})
}

// endUserSessions ends every session of user id but except.
func (s *Service) endUserSessions(ctx context.Context, id, except string) error {
	if s.opt.Sessions == nil {
		return nil
	}
	if _, err := s.opt.Sessions.DeleteUserSessions(ctx, id, except); err != nil {
		return gateway.Internal("end user sessions", err)
	}
	return nil
}

// SweepSessions deletes every session, of every user, past its idle
// deadline or absolute end (Run calls it every SessionSweepInterval) and
// returns how many it deleted. Instances sweep independently; deleting an
// already deleted row is harmless.
func (s *Service) SweepSessions(ctx context.Context) (int, error) {
	if s.opt.Sessions == nil {
		return 0, nil
	}
	n, err := s.opt.Sessions.DeleteEndedSessions(ctx, s.now())
	if err != nil {
		return 0, fmt.Errorf("sweep sessions: %w", err)
	}
	if n > 0 {
		s.opt.Log.DebugContext(ctx, "ended sessions deleted", "count", n)
	}
	return n, nil
}

// CheckOrigin refuses a cross-site unsafe request (http.CrossOriginProtection
// on Origin / Sec-Fetch-Site, server.public_url trusted) with 403
// csrf_failed. The session login runs it so another site cannot sign a
// browser in to an account of its choosing (login CSRF).
func (s *Service) CheckOrigin(r *http.Request) error {
	if s.sess.cop.Check(r) != nil {
		return errCSRF
	}
	return nil
}
