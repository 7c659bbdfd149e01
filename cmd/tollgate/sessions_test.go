package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// browser is one signed-in browser: its session cookie and CSRF token.
type browser struct {
	e      *authEnv
	name   string // the session cookie's name
	cookie string
	csrf   string
}

// sessionLogin signs in with POST /api/auth/sessions and returns the
// browser and the answer.
func (e *authEnv) sessionLogin(email, password string, hdr ...string) (*browser, reply) {
	e.t.Helper()
	r := e.do("POST", "/api/auth/sessions", "", map[string]string{"email": email, "password": password}, hdr...)
	wantStatus(e.t, r, http.StatusCreated)
	b := &browser{e: e, name: e.app.identity.SessionCookieName()}
	b.take(r)
	if b.cookie == "" || b.csrf == "" {
		e.t.Fatalf("login set no cookies: %v", r.header["Set-Cookie"])
	}
	return b, r
}

// take keeps the cookies an answer set.
func (b *browser) take(r reply) {
	for _, sc := range r.header["Set-Cookie"] {
		c, err := http.ParseSetCookie(sc)
		if err != nil {
			b.e.t.Fatalf("Set-Cookie %q: %v", sc, err)
		}
		switch c.Name {
		case b.name:
			b.cookie = c.Value
		case "tollgate_csrf":
			b.csrf = c.Value
		}
	}
}

// do sends a request with the session cookie and, for unsafe methods, the
// CSRF token (csrf=false leaves it out).
func (b *browser) do(method, path string, body any, hdr ...string) reply {
	b.e.t.Helper()
	h := append([]string{"Cookie", b.name + "=" + b.cookie}, hdr...)
	if method != "GET" {
		h = append(h, "X-CSRF-Token", b.csrf)
	}
	return b.e.do(method, path, "", body, h...)
}

// via is b on another instance.
func (b *browser) via(e *authEnv) *browser { c := *b; c.e = e; return &c }

var cookieValue = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func wantCleared(t *testing.T, r reply, name string) {
	t.Helper()
	secure := ""
	if strings.HasPrefix(name, "__Host-") {
		secure = "; Secure"
	}
	want := []string{name + "=; Path=/; Max-Age=0; HttpOnly" + secure + "; SameSite=Lax", "tollgate_csrf=; Path=/; Max-Age=0" + secure + "; SameSite=Strict"}
	if got := r.header["Set-Cookie"]; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Set-Cookie = %q, want %q", got, want)
	}
}

func TestSessionLoginSetsCookies(t *testing.T) {
	for _, tc := range []struct {
		name, env, cookie, secure string
	}{
		{"HTTP", "", "tollgate_session", ""},
		{"HTTPSPublicURL", "TOLLGATE_SERVER_PUBLIC_URL=https://gw.example.com", "__Host-tollgate_session", "; Secure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthEnv(t, tc.env)
			e.setup()
			b, r := e.sessionLogin("admin@example.com", adminPassword)
			sc := r.header["Set-Cookie"]
			if len(sc) != 2 || !cookieValue.MatchString(b.cookie) || !cookieValue.MatchString(b.csrf) {
				t.Fatalf("Set-Cookie = %q", sc)
			}
			if got, want := sc[0], tc.cookie+"="+b.cookie+"; Path=/; Max-Age=604800; HttpOnly"+tc.secure+"; SameSite=Lax"; got != want {
				t.Fatalf("session cookie = %q, want %q", got, want)
			}
			if got, want := sc[1], "tollgate_csrf="+b.csrf+"; Path=/; Max-Age=604800"+tc.secure+"; SameSite=Strict"; got != want {
				t.Fatalf("csrf cookie = %q, want %q", got, want)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.body["csrf_token"] != b.csrf {
				t.Fatalf("login answer: Cache-Control %q, body %s", r.header.Get("Cache-Control"), r.raw)
			}
			sess, _ := r.body["session"].(map[string]any)
			user, _ := r.body["user"].(map[string]any)
			if len(r.body) != 3 || len(sess) != 4 || sess["id"] == "" || sess["created_at"] == nil || sess["expires_at"] == nil ||
				sess["idle_expires_at"] == nil || user["email"] != "admin@example.com" || user["role"] != "admin" {
				t.Fatalf("login body = %s", r.raw)
			}
			if strings.Contains(r.raw, b.cookie) {
				t.Fatal("the session secret is in the body")
			}
			me := b.do("GET", "/api/auth/me", nil)
			wantStatus(t, me, 200)
			if me.body["email"] != "admin@example.com" || me.body["role"] != "admin" {
				t.Fatalf("me = %s", me.raw)
			}
			// A new login is a new session id.
			b2, _ := e.sessionLogin("admin@example.com", adminPassword)
			if b2.cookie == b.cookie || b2.csrf == b.csrf {
				t.Fatal("second login reused the session id or CSRF token")
			}
			// Cookie + Bearer is ambiguous; other cookies are ignored.
			tok := e.login("admin@example.com", adminPassword)
			wantError(t, e.do("GET", "/api/auth/me", tok, nil, "Cookie", b.name+"="+b.cookie), 400, "ambiguous_credentials", "")
			wantError(t, e.do("GET", "/api/auth/me", "", nil, "X-API-Key", "tg_x", "Cookie", b.name+"="+b.cookie), 400, "ambiguous_credentials", "")
			wantError(t, e.do("GET", "/api/auth/me", "", nil, "Cookie", "other="+b.cookie), 401, "missing_authorization", "")
			if tc.secure != "" { // the unprefixed name is just another cookie
				wantError(t, e.do("GET", "/api/auth/me", "", nil, "Cookie", "tollgate_session="+b.cookie), 401, "missing_authorization", "")
			}
			// Unknown session: 401 invalid_authorization, cookies cleared.
			bad := e.do("GET", "/api/auth/me", "", nil, "Cookie", b.name+"="+strings.Repeat("A", 43))
			wantError(t, bad, 401, "invalid_authorization", "")
			wantCleared(t, bad, b.name)
		})
	}
	t.Run("WrongPassword", func(t *testing.T) {
		e := newAuthEnv(t)
		e.setup()
		for _, body := range []map[string]string{
			{"email": "admin@example.com", "password": "wrong password"},
			{"email": "nobody@example.com", "password": adminPassword},
		} {
			r := e.do("POST", "/api/auth/sessions", "", body)
			wantError(t, r, 401, "invalid_credentials", "")
			if len(r.header["Set-Cookie"]) != 0 || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("failed login headers = %v", r.header)
			}
		}
		wantError(t, e.do("POST", "/api/auth/sessions", "", map[string]string{"email": "admin@example.com"}), 400, "missing_field", "body.password")
	})
	t.Run("SharesLoginLimiter", func(t *testing.T) {
		e := newAuthEnv(t, "TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=2")
		e.setup() // one login attempt
		e.sessionLogin("admin@example.com", adminPassword)
		r := e.do("POST", "/api/auth/sessions", "", map[string]string{"email": "admin@example.com", "password": adminPassword})
		wantError(t, r, 429, "rate_limit_exceeded", "")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": adminPassword}), 429, "rate_limit_exceeded", "")
	})
	t.Run("BadPublicURL", func(t *testing.T) {
		for _, u := range []string{"ftp://x", "https://gw.example.com/ui", "gw.example.com"} {
			cfg := testConfigErr(t, "TOLLGATE_SERVER_PUBLIC_URL="+u)
			if cfg == nil || !strings.Contains(cfg.Error(), "server.public_url") {
				t.Fatalf("public_url %q: err = %v", u, cfg)
			}
		}
	})
}

// sessionClockEnv is an authEnv with a manual session clock and a signed-in admin.
func sessionClockEnv(t *testing.T, environ ...string) (*authEnv, *testsvc.Clock, string) {
	e := newAuthEnv(t, environ...)
	clock := testsvc.NewClock(time.Now())
	e.app.identity.SetSessionClock(clock.Now)
	return e, clock, e.setup()
}

func TestSessionRefresh(t *testing.T) {
	t.Run("InsideIdleRotates", func(t *testing.T) {
		e, clock, _ := sessionClockEnv(t)
		b, login := e.sessionLogin("admin@example.com", adminPassword)
		old := *b
		clock.Advance(7 * time.Hour)
		r := b.do("POST", "/api/auth/refresh", nil)
		wantStatus(t, r, 200)
		if r.header.Get("X-Session-Rotated") != "1" || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("refresh headers = %v", r.header)
		}
		b.take(r)
		if b.cookie == old.cookie || b.csrf == old.csrf || r.body["csrf_token"] != b.csrf {
			t.Fatal("refresh did not rotate the id and CSRF token")
		}
		ls, rs := login.body["session"].(map[string]any), r.body["session"].(map[string]any)
		if ls["id"] != rs["id"] || ls["expires_at"] != rs["expires_at"] || ls["idle_expires_at"] == rs["idle_expires_at"] {
			t.Fatalf("session before %v, after %v", ls, rs)
		}
		wantStatus(t, b.do("GET", "/api/auth/me", nil), 200)
		wantError(t, old.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
		// The old CSRF token no longer passes with the new cookie.
		stale := *b
		stale.csrf = old.csrf
		wantError(t, stale.do("DELETE", "/api/auth/sessions", nil), 403, "csrf_failed", "")
		// 8h after the refresh the session is idle-expired.
		clock.Advance(8 * time.Hour)
		r = b.do("POST", "/api/auth/refresh", nil)
		wantError(t, r, 401, "session_expired", "")
		wantCleared(t, r, b.name)
		wantError(t, b.do("GET", "/api/auth/me", nil), 401, "session_expired", "")
	})
	t.Run("AfterIdle", func(t *testing.T) {
		e, clock, _ := sessionClockEnv(t)
		b, _ := e.sessionLogin("admin@example.com", adminPassword)
		clock.Advance(8 * time.Hour)
		r := b.do("POST", "/api/auth/refresh", nil)
		wantError(t, r, 401, "session_expired", "")
		if _, typ, _ := r.err(); typ != "authentication_error" {
			t.Fatalf("type = %s", typ)
		}
		wantCleared(t, r, b.name)
	})
	t.Run("AfterAbsolute", func(t *testing.T) {
		e, clock, _ := sessionClockEnv(t)
		b, _ := e.sessionLogin("admin@example.com", adminPassword)
		for range 23 { // 23 × 7h = 161h < 168h: every refresh inside the idle window
			clock.Advance(7 * time.Hour)
			r := b.do("POST", "/api/auth/refresh", nil)
			wantStatus(t, r, 200)
			b.take(r)
		}
		if idle := b.do("GET", "/api/auth/sessions", nil); idle.status != 200 {
			t.Fatal(idle.raw)
		}
		clock.Advance(7 * time.Hour) // 168h: the absolute end
		r := b.do("POST", "/api/auth/refresh", nil)
		wantError(t, r, 401, "session_expired", "")
		wantCleared(t, r, b.name)
	})
	t.Run("CookieRequestsExtendIdleOncePerMinute", func(t *testing.T) {
		e, clock, _ := sessionClockEnv(t)
		b, _ := e.sessionLogin("admin@example.com", adminPassword)
		lastSeen := func() string {
			r := b.do("GET", "/api/auth/sessions", nil)
			wantStatus(t, r, 200)
			return r.body["data"].([]any)[0].(map[string]any)["last_seen_at"].(string)
		}
		first := lastSeen()
		clock.Advance(30 * time.Second)
		if got := lastSeen(); got != first {
			t.Fatalf("last_seen_at moved after 30s: %s → %s", first, got)
		}
		clock.Advance(31 * time.Second)
		lastSeen() // this request writes
		if got := lastSeen(); got == first {
			t.Fatal("last_seen_at did not move after a minute")
		}
		// Used every 7h, the session outlives its first idle deadline.
		clock.Advance(7 * time.Hour)
		wantStatus(t, b.do("GET", "/api/auth/me", nil), 200)
		clock.Advance(7 * time.Hour)
		wantStatus(t, b.do("GET", "/api/auth/me", nil), 200)
	})
	t.Run("WithJWT", func(t *testing.T) {
		e, _, admin := sessionClockEnv(t)
		r := e.do("POST", "/api/auth/refresh", admin, nil)
		wantError(t, r, 401, "session_expired", "")
	})
}

func TestSessionLogoutOnEveryInstance(t *testing.T) {
	e := newAuthEnv(t)
	admin := e.setup()
	other := e.second()
	b, _ := e.sessionLogin("admin@example.com", adminPassword)
	wantStatus(t, b.via(other).do("GET", "/api/auth/me", nil), 200)
	r := b.do("POST", "/api/auth/logout", nil)
	wantStatus(t, r, 204)
	wantCleared(t, r, b.name)
	wantError(t, b.via(other).do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	wantError(t, b.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	// A cookie logout ends the session only: the JWT still works.
	wantStatus(t, e.do("GET", "/api/auth/me", admin, nil), 200)
}

func TestSessionMaxPerUserEvictsOldest(t *testing.T) {
	e := newAuthEnv(t)
	e.setup()
	var bs []*browser
	for range 6 {
		b, _ := e.sessionLogin("admin@example.com", adminPassword)
		bs = append(bs, b)
	}
	wantError(t, bs[0].do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	for _, b := range bs[1:] {
		wantStatus(t, b.do("GET", "/api/auth/me", nil), 200)
	}
	r := bs[5].do("GET", "/api/auth/sessions", nil)
	wantStatus(t, r, 200)
	data := r.body["data"].([]any)
	current := 0
	for _, d := range data {
		m := d.(map[string]any)
		if len(m) != 7 || m["ip"] != "127.0.0.1" || !strings.HasPrefix(m["user_agent"].(string), "Go-http-client") {
			t.Fatalf("session item = %v", m)
		}
		if m["current"] == true {
			current++
		}
	}
	if len(data) != 5 || current != 1 || data[0].(map[string]any)["current"] != true {
		t.Fatalf("sessions = %s", r.raw)
	}
}

func TestSessionManagement(t *testing.T) {
	e := newAuthEnv(t)
	admin := e.setup()
	e.createUser(admin, "v@example.com", "viewer password", "viewer")
	a1, _ := e.sessionLogin("admin@example.com", adminPassword)
	a2, l2 := e.sessionLogin("admin@example.com", adminPassword)
	a3, _ := e.sessionLogin("admin@example.com", adminPassword)
	v, lv := e.sessionLogin("v@example.com", "viewer password")
	id2 := l2.body["session"].(map[string]any)["id"].(string)
	idV := lv.body["session"].(map[string]any)["id"].(string)

	// Another user's session is not found, for a user and an admin alike.
	wantError(t, v.do("DELETE", "/api/auth/sessions/"+id2, nil), 404, "not_found", "")
	wantError(t, a1.do("DELETE", "/api/auth/sessions/"+idV, nil), 404, "not_found", "")
	wantStatus(t, v.do("GET", "/api/auth/me", nil), 200)
	// Ending one of one's own.
	wantStatus(t, a1.do("DELETE", "/api/auth/sessions/"+id2, nil), 204)
	wantError(t, a2.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	// Ending all but the current one.
	wantStatus(t, a1.do("DELETE", "/api/auth/sessions", nil), 204)
	wantError(t, a3.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	r := a1.do("GET", "/api/auth/sessions", nil)
	if data := r.body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["current"] != true {
		t.Fatalf("sessions = %s", r.raw)
	}
	// With a JWT: the list has no current session.
	r = e.do("GET", "/api/auth/sessions", admin, nil)
	if data := r.body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["current"] != false {
		t.Fatalf("sessions via JWT = %s", r.raw)
	}
	wantStatus(t, v.do("GET", "/api/auth/me", nil), 200)
	// Ending the current one clears the cookies.
	self := a1.do("GET", "/api/auth/sessions", nil).body["data"].([]any)[0].(map[string]any)["id"].(string)
	r = a1.do("DELETE", "/api/auth/sessions/"+self, nil)
	wantStatus(t, r, 204)
	wantCleared(t, r, a1.name)
}

func TestSessionsEndedByAccountChanges(t *testing.T) {
	e := newAuthEnv(t, "TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=1000")
	admin := e.setup()
	other := e.second()
	uid := e.createUser(admin, "u@example.com", "user password 1", "contributor")
	login := func(pw string) *browser { b, _ := e.sessionLogin("u@example.com", pw); return b }

	t.Run("Deactivation", func(t *testing.T) {
		b := login("user password 1")
		wantStatus(t, e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]any{"active": false}), 200)
		wantError(t, b.via(other).do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
		wantStatus(t, e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]any{"active": true}), 200)
		wantError(t, b.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	})
	t.Run("AdminPasswordReset", func(t *testing.T) {
		b := login("user password 1")
		wantStatus(t, e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]any{"password": "user password 2"}), 200)
		wantError(t, b.via(other).do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	})
	t.Run("AdminRevoke", func(t *testing.T) {
		b1, b2 := login("user password 2"), login("user password 2")
		mine, _ := e.sessionLogin("admin@example.com", adminPassword)
		wantStatus(t, e.do("POST", "/api/admin/users/"+uid+"/sessions/revoke", admin, nil), 204)
		wantError(t, b1.via(other).do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
		wantError(t, b2.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
		wantStatus(t, mine.do("GET", "/api/auth/me", nil), 200)
		wantError(t, e.do("POST", "/api/admin/users/"+missingID+"/sessions/revoke", admin, nil), 404, "not_found", "")
		// An admin's cookie does it too (with the CSRF token).
		b3 := login("user password 2")
		wantStatus(t, mine.do("POST", "/api/admin/users/"+uid+"/sessions/revoke", nil), 204)
		wantError(t, b3.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	})
	t.Run("OwnPasswordChange", func(t *testing.T) {
		cur, rest := login("user password 2"), login("user password 2")
		tok := e.login("u@example.com", "user password 2")
		wantError(t, cur.do("PUT", "/api/auth/password", map[string]string{"current_password": "wrong password", "new_password": "user password 3"}),
			401, "invalid_credentials", "")
		wantError(t, cur.do("PUT", "/api/auth/password", map[string]string{"current_password": "user password 2", "new_password": "short"}),
			400, "weak_password", "body.new_password")
		wantError(t, cur.do("PUT", "/api/auth/password", map[string]string{"current_password": "user password 2", "new_password": "password1"}),
			400, "weak_password", "body.new_password")
		wantError(t, cur.do("PUT", "/api/auth/password", map[string]string{"new_password": "user password 3"}), 400, "missing_field", "body.current_password")
		wantStatus(t, rest.do("GET", "/api/auth/me", nil), 200) // refusals changed nothing
		before := *cur
		ch := cur.do("PUT", "/api/auth/password", map[string]string{"current_password": "user password 2", "new_password": "user password 3"})
		wantStatus(t, ch, 204)
		// The current session is renewed (OWASP: new id after a credential
		// change): new secret and CSRF token, same attributes as login.
		cur.take(ch)
		if ch.header.Get("X-Session-Rotated") != "1" || cur.cookie == before.cookie || cur.csrf == before.csrf ||
			!cookieValue.MatchString(cur.cookie) || !cookieValue.MatchString(cur.csrf) {
			t.Fatalf("password change: X-Session-Rotated %q, Set-Cookie %q", ch.header.Get("X-Session-Rotated"), ch.header["Set-Cookie"])
		}
		sc := ch.header["Set-Cookie"]
		if len(sc) != 2 || !strings.HasPrefix(sc[0], "tollgate_session="+cur.cookie+"; Path=/; Max-Age=") ||
			!strings.HasSuffix(sc[0], "; HttpOnly; SameSite=Lax") ||
			!strings.HasPrefix(sc[1], "tollgate_csrf="+cur.csrf+"; Path=/; Max-Age=") || !strings.HasSuffix(sc[1], "; SameSite=Strict") ||
			strings.Contains(sc[1], "HttpOnly") {
			t.Fatalf("password change Set-Cookie = %q", sc)
		}
		wantError(t, before.via(other).do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
		stale := *cur
		stale.csrf = before.csrf
		wantError(t, stale.do("POST", "/api/auth/refresh", nil), 403, "csrf_failed", "")
		wantStatus(t, cur.via(other).do("GET", "/api/auth/me", nil), 200)
		wantError(t, rest.via(other).do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
		wantError(t, e.do("GET", "/api/auth/me", tok, nil), 401, "invalid_authorization", "")
		wantError(t, e.do("POST", "/api/auth/sessions", "", map[string]string{"email": "u@example.com", "password": "user password 2"}), 401, "invalid_credentials", "")
		login("user password 3")
		// With a JWT: the change works and the JWT dies with the watermark.
		tok = e.login("u@example.com", "user password 3")
		jc := e.do("PUT", "/api/auth/password", tok, map[string]string{"current_password": "user password 3", "new_password": "user password 4"})
		wantStatus(t, jc, 204)
		if jc.header.Get("X-Session-Rotated") != "" || len(jc.header["Set-Cookie"]) != 0 {
			t.Fatalf("password change with a JWT: X-Session-Rotated %q, Set-Cookie %q", jc.header.Get("X-Session-Rotated"), jc.header["Set-Cookie"])
		}
		wantError(t, e.do("GET", "/api/auth/me", tok, nil), 401, "invalid_authorization", "")
		wantError(t, cur.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	})
}

// testConfigErr is testConfig's load error (nil when the config loads).
func testConfigErr(t *testing.T, environ ...string) error {
	t.Helper()
	dir := t.TempDir()
	environ = append([]string{"TOLLGATE_SERVER_ADDR=127.0.0.1:0", "TOLLGATE_SERVER_DATA_DIR=" + dir}, environ...)
	_, err := config.Load(config.Sources{File: writeEmptyConfig(t, dir), Environ: environ})
	return err
}

// TestSessionSweep: the identity service's sweep (Service.Run calls it
// every auth.DefaultSessionSweepInterval) deletes, on the real store, the
// sessions past their idle or absolute end and keeps the live ones.
func TestSessionSweep(t *testing.T) {
	t.Parallel()
	e, clock, _ := sessionClockEnv(t)
	old, _ := e.sessionLogin("admin@example.com", adminPassword)
	clock.Advance(7 * time.Hour)
	live, _ := e.sessionLogin("admin@example.com", adminPassword)
	clock.Advance(2 * time.Hour) // old is 9h idle (> auth.session_idle 8h), live 2h
	wantError(t, old.do("GET", "/api/auth/me", nil), 401, "session_expired", "")
	me := live.do("GET", "/api/auth/me", nil)
	wantStatus(t, me, 200)
	n, err := e.app.identity.SweepSessions(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("SweepSessions = %d, %v; want 1", n, err)
	}
	rows, err := e.app.store.ListSessions(t.Context(), me.body["id"].(string))
	if err != nil || len(rows) != 1 {
		t.Fatalf("session rows after the sweep = %+v, %v; want only the live one", rows, err)
	}
	// The swept session is gone (no row: invalid_authorization), the live
	// one untouched.
	wantError(t, old.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	wantStatus(t, live.do("GET", "/api/auth/me", nil), 200)
	clock.Advance(7 * 24 * time.Hour) // live has ended as well
	if n, err := e.app.identity.SweepSessions(t.Context()); err != nil || n != 1 {
		t.Fatalf("SweepSessions a week later = %d, %v; want 1", n, err)
	}
}
