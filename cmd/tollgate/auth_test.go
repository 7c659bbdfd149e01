package main

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/config"
)

func TestSetupOnceThenConflictAndAutoTurnsRequired(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	r := e.do("GET", "/api/auth/status", "", nil)
	wantStatus(t, r, 200)
	if r.body["mode"] != "open" || r.body["setup_required"] != true || r.body["registration_enabled"] != false {
		t.Fatalf("status before setup = %s", r.raw)
	}
	if got := e.do("GET", "/api/setup", "", nil); got.body["is_setup"] != false {
		t.Fatalf("GET /api/setup = %s", got.raw)
	}
	// Open: no credential needed, the local admin answers.
	me := e.do("GET", "/api/auth/me", "", nil)
	wantStatus(t, me, 200)
	if me.body["id"] != "local" || me.body["role"] != "admin" {
		t.Fatalf("me in open mode = %s", me.raw)
	}

	tok := e.setup()
	again := e.do("POST", "/api/setup", "", map[string]string{"email": "other@example.com", "password": adminPassword})
	wantError(t, again, 409, "already_set_up", "")
	if typ := again.body["error"].(map[string]any)["type"]; typ != "conflict_error" {
		t.Fatalf("type = %v", typ)
	}
	if got := e.do("GET", "/api/setup", "", nil); got.body["is_setup"] != true {
		t.Fatalf("GET /api/setup after = %s", got.raw)
	}
	r = e.do("GET", "/api/auth/status", "", nil)
	if r.body["mode"] != "required" || r.body["setup_required"] != false {
		t.Fatalf("status after setup = %s", r.raw)
	}
	anon := e.do("GET", "/api/auth/me", "", nil)
	wantError(t, anon, 401, "missing_authorization", "")
	if got := anon.header.Get("WWW-Authenticate"); got != `Bearer realm="tollgate"` {
		t.Fatalf("WWW-Authenticate = %q", got)
	}
	me = e.do("GET", "/api/auth/me", tok, nil)
	wantStatus(t, me, 200)
	if me.body["email"] != "admin@example.com" || me.body["role"] != "admin" || me.body["active"] != true || me.body["display_name"] != "Admin" {
		t.Fatalf("me = %s", me.raw)
	}
}

func TestSetupValidation(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	for _, tc := range []struct {
		name        string
		body        any
		code, param string
	}{
		{"ShortPassword", map[string]string{"email": "a@example.com", "password": "1234567"}, "weak_password", "body.password"},
		{"LongPassword", map[string]string{"email": "a@example.com", "password": strings.Repeat("x", 1025)}, "weak_password", "body.password"},
		{"MissingEmail", map[string]string{"password": adminPassword}, "missing_field", "body.email"},
		{"BadEmail", map[string]string{"email": "not an email", "password": adminPassword}, "invalid_field", "body.email"},
		{"UnknownField", map[string]any{"email": "a@example.com", "password": adminPassword, "role": "viewer"}, "invalid_field", "body.role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/setup", "", tc.body), 400, tc.code, tc.param)
		})
	}
	t.Run("ExactBoundsAccepted", func(t *testing.T) {
		pw := " 1234567" // 8 bytes, leading space kept
		wantStatus(t, e.do("POST", "/api/setup", "", map[string]string{"email": "a@example.com", "password": pw}), 201)
		wantStatus(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "a@example.com", "password": pw}), 200)
		wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "a@example.com", "password": "1234567"}), 401, "invalid_credentials", "")
	})
}

func TestOpenModeRefusedOnPublicAddress(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := config.Load(config.Sources{File: writeEmptyConfig(t, dir), Environ: []string{
		"TOLLGATE_SERVER_ADDR=0.0.0.0:8080", "TOLLGATE_SERVER_DATA_DIR=" + dir, "TOLLGATE_AUTH_MODE=open"}})
	if err == nil || !strings.Contains(err.Error(), "auth.mode") {
		t.Fatalf("config.Load = %v, want an error naming auth.mode", err)
	}
}

func TestSetupTokenOnPublicAddress(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_SERVER_ADDR=0.0.0.0:0")
	path := filepath.Join(e.app.cfg.Server.DataDir, "setup-token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("setup-token mode = %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	token := strings.TrimSpace(string(b))
	if !strings.Contains(e.logs.String(), "setup token") || !strings.Contains(e.logs.String(), token) {
		t.Fatalf("the setup token is not in the logs:\n%s", e.logs.String())
	}
	r := e.do("GET", "/api/auth/status", "", nil)
	if r.body["mode"] != "required" || r.body["setup_required"] != true {
		t.Fatalf("status = %s", r.raw)
	}
	wantCode(t, errOf(e.client("").Me(t.Context())), 401, "missing_authorization", "")
	body := map[string]string{"email": "admin@example.com", "password": adminPassword}
	wantError(t, e.do("POST", "/api/setup", "", body), 400, "missing_field", "body.setup_token")
	body["setup_token"] = token + "x"
	wantError(t, e.do("POST", "/api/setup", "", body), 400, "invalid_field", "body.setup_token")
	body["setup_token"] = token
	wantStatus(t, e.do("POST", "/api/setup", "", body), 201)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("setup-token still exists after setup: %v", err)
	}
	wantError(t, e.do("POST", "/api/setup", "", body), 409, "already_set_up", "")
}

func TestLoginMeAndIdenticalFailures(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.setup()
	unknown := e.do("POST", "/api/auth/login", "", map[string]string{"email": "nobody@example.com", "password": adminPassword})
	wrong := e.do("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": "wrong password"})
	wantError(t, unknown, 401, "invalid_credentials", "")
	wantError(t, wrong, 401, "invalid_credentials", "")
	if unknown.raw != wrong.raw || unknown.header.Get("WWW-Authenticate") != wrong.header.Get("WWW-Authenticate") {
		t.Fatalf("unknown email and wrong password differ:\n%s\n%s", unknown.raw, wrong.raw)
	}
	ok := e.do("POST", "/api/auth/login", "", map[string]string{"email": "ADMIN@example.com", "password": adminPassword})
	wantStatus(t, ok, 200)
	if ok.body["token_type"] != "bearer" || ok.body["expires_in"] != float64(24*3600) {
		t.Fatalf("login = %s", ok.raw)
	}
	u := ok.body["user"].(map[string]any)
	if u["email"] != "admin@example.com" || u["role"] != "admin" || u["active"] != true {
		t.Fatalf("login user = %v", u)
	}
	me := e.do("GET", "/api/auth/me", ok.body["access_token"].(string), nil)
	if me.status != 200 || me.body["id"] != u["id"] {
		t.Fatalf("me = %s", me.raw)
	}
}

func TestCredentialRules(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	tok := e.setup()
	wantError(t, e.do("GET", "/api/auth/me", tok, nil, "X-API-Key", "tg_other"), 400, "ambiguous_credentials", "")
	wantStatus(t, e.do("GET", "/api/auth/me", "", nil, "Authorization", "bEaReR "+tok), 200)
	for _, q := range []string{"api_key", "access_token", "token", "key"} {
		wantError(t, e.do("GET", "/api/auth/me?"+q+"="+tok, "", nil), 400, "invalid_field", "query."+q)
	}
	bad := e.do("GET", "/api/auth/me", "", nil, "Authorization", "Basic YTpi")
	wantError(t, bad, 401, "invalid_authorization", "")
	if got := bad.header.Get("WWW-Authenticate"); got != `Bearer realm="tollgate", error="invalid_token"` {
		t.Fatalf("WWW-Authenticate = %q", got)
	}
	wantError(t, e.do("GET", "/api/auth/me", "", nil, "X-API-Key", "tg_unknown"), 401, "invalid_authorization", "")
	wantCode(t, errOf(e.client("not-a-jwt").Me(t.Context())), 401, "invalid_authorization", "")
}

const testSecret = "0123456789abcdef0123456789abcdef-test"

// sign signs claims with HS256 and key.
func sign(t *testing.T, key string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTTampering(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_JWT_SECRET="+testSecret)
	tok := e.setup()
	me := e.do("GET", "/api/auth/me", tok, nil)
	wantStatus(t, me, 200)
	sub := me.body["id"].(string)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "tollgate", "aud": "tollgate", "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1", "typ": "access"}
	}
	// Our own signing of valid claims is accepted: the cases below fail for their one change.
	wantStatus(t, e.do("GET", "/api/auth/me", sign(t, testSecret, valid()), nil), 200)

	t.Run("AnyChangedByte", func(t *testing.T) {
		const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for i := 0; i < len(tok); i++ {
			b := []byte(tok)
			if j := strings.IndexByte(alpha, b[i]); j >= 0 {
				b[i] = alpha[j^32] // flips the high bit of the 6-bit value: never just padding bits
			} else {
				b[i] = 'A'
			}
			r := e.do("GET", "/api/auth/me", string(b), nil)
			if r.status != 401 {
				t.Fatalf("byte %d changed: status %d, want 401", i, r.status)
			}
			if code, _, _ := r.err(); code != "invalid_authorization" {
				t.Fatalf("byte %d changed: code %s", i, code)
			}
		}
	})
	enc := base64.RawURLEncoding
	payload := func(c jwt.MapClaims) string {
		b, _ := json.Marshal(c)
		return enc.EncodeToString(b)
	}
	cases := []struct {
		name string
		tok  string
		code string
	}{
		{"AlgNone", enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload(valid()) + ".", "invalid_authorization"},
		{"OtherKey", sign(t, strings.Repeat("k", 32), valid()), "invalid_authorization"},
		{"WrongAudience", sign(t, testSecret, with(valid(), "aud", "someone-else")), "invalid_authorization"},
		{"WrongIssuer", sign(t, testSecret, with(valid(), "iss", "evil")), "invalid_authorization"},
		{"MissingExp", sign(t, testSecret, with(valid(), "exp", nil)), "invalid_authorization"},
		{"WrongType", sign(t, testSecret, with(valid(), "typ", "refresh")), "invalid_authorization"},
		{"UnknownSubject", sign(t, testSecret, with(valid(), "sub", "nobody")), "invalid_authorization"},
		{"Expired", sign(t, testSecret, with(valid(), "exp", now.Add(-time.Minute).Unix())), "token_expired"},
		{"ExpiredWrongAudience", sign(t, testSecret, with(with(valid(), "exp", now.Add(-time.Minute).Unix()), "aud", "x")), "invalid_authorization"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, errOf(e.client(tc.tok).Me(t.Context())), 401, tc.code, "")
		})
	}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

func TestEdDSAKeyPinned(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	tok := e.setup()
	parts := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(h), `"EdDSA"`) {
		t.Fatalf("header = %s, want EdDSA without auth.jwt_secret", h)
	}
	var claims map[string]any
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(p, &claims)
	forged := sign(t, testSecret, jwt.MapClaims(claims))
	wantCode(t, errOf(e.client(forged).Me(t.Context())), 401, "invalid_authorization", "")
	// The key lives in the database: a second app on it accepts the token.
	other := e.second()
	wantNil(t, errOf(other.client(tok).Me(t.Context())))
}

func TestLogoutRevokesEarlierTokens(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	t1 := e.setup()
	t2 := e.login("admin@example.com", adminPassword)
	r := e.do("POST", "/api/auth/logout", t1, nil)
	if r.status != 204 {
		t.Fatalf("logout = %d %s", r.status, r.raw)
	}
	wantCode(t, errOf(e.client(t1).Me(t.Context())), 401, "invalid_authorization", "")
	wantCode(t, errOf(e.client(t2).Me(t.Context())), 401, "invalid_authorization", "")
	t3 := e.login("admin@example.com", adminPassword)
	wantNil(t, errOf(e.client(t3).Me(t.Context())))
}

func TestRolesDemotionDeactivationLastAdmin(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	admin := e.setup()
	vid := e.createUser(admin, "v@example.com", "viewer password", "viewer")
	cid := e.createUser(admin, "c@example.com", "contributor password", "contributor")
	viewer := e.login("v@example.com", "viewer password")
	contrib := e.login("c@example.com", "contributor password")
	_ = vid

	r := e.do("POST", "/test/contribute", viewer, nil)
	wantError(t, r, 403, "insufficient_role", "")
	if msg := r.body["error"].(map[string]any)["message"]; msg != "Requires contributor role" {
		t.Fatalf("message = %v", msg)
	}
	wantCode(t, errOf(e.client(contrib).ListUsers(t.Context(), client.ListOptions{})), 403, "insufficient_role", "")
	wantStatus(t, e.do("POST", "/test/contribute", contrib, nil), 200)

	// A second instance on the same database caches the contributor too.
	other := e.second()
	wantStatus(t, other.do("POST", "/test/contribute", contrib, nil), 200)

	p := e.do("PATCH", "/api/admin/users/"+cid, admin, map[string]any{"role": "viewer"})
	wantStatus(t, p, 200)
	if p.body["role"] != "viewer" {
		t.Fatalf("patch = %s", p.raw)
	}
	wantError(t, e.do("POST", "/test/contribute", contrib, nil), 403, "insufficient_role", "")
	if me := e.do("GET", "/api/auth/me", contrib, nil); me.body["role"] != "viewer" {
		t.Fatalf("me after demotion = %s", me.raw)
	}
	// The other instance learns it from its next database poll.
	if err := other.app.identity.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantError(t, other.do("POST", "/test/contribute", contrib, nil), 403, "insufficient_role", "")

	wantStatus(t, e.do("PATCH", "/api/admin/users/"+cid, admin, map[string]any{"active": false}), 200)
	wantCode(t, errOf(e.client(contrib).Me(t.Context())), 401, "invalid_authorization", "")
	wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "c@example.com", "password": "contributor password"}), 401, "invalid_credentials", "")

	me := e.do("GET", "/api/auth/me", admin, nil)
	aid := me.body["id"].(string)
	wantError(t, e.do("PATCH", "/api/admin/users/"+aid, admin, map[string]any{"role": "contributor"}), 409, "last_admin", "")
	wantError(t, e.do("PATCH", "/api/admin/users/"+aid, admin, map[string]any{"active": false}), 409, "last_admin", "")
	wantError(t, e.do("PATCH", "/api/admin/users/nope", admin, map[string]any{"active": false}), 404, "not_found", "")
	wantError(t, e.do("PATCH", "/api/admin/users/"+cid, admin, map[string]any{"role": "owner"}), 400, "invalid_field", "body.role")
	wantError(t, e.do("POST", "/api/admin/users", admin, map[string]string{"email": "V@example.com", "password": "whatever pass 1", "role": "viewer"}), 409, "email_taken", "")

	list := e.do("GET", "/api/admin/users?limit=2", admin, nil)
	wantStatus(t, list, 200)
	if n := len(list.body["data"].([]any)); n != 2 || list.body["next_cursor"] == nil {
		t.Fatalf("page 1 = %s", list.raw)
	}
	list = e.do("GET", "/api/admin/users?limit=2&cursor="+list.body["next_cursor"].(string), admin, nil)
	if n := len(list.body["data"].([]any)); n != 1 || list.body["next_cursor"] != nil {
		t.Fatalf("page 2 = %s", list.raw)
	}
	wantError(t, e.do("GET", "/api/admin/users?limit=500", admin, nil), 400, "invalid_field", "query.limit")
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	body := func(email string) map[string]string {
		return map[string]string{"email": email, "password": "a good password", "display_name": "R"}
	}
	t.Run("DisabledByDefault", func(t *testing.T) {
		e := newAuthEnv(t)
		e.setup()
		wantError(t, e.do("POST", "/api/auth/register", "", body("r@example.com")), 403, "registration_disabled", "")
	})
	t.Run("RefusedBeforeSetup", func(t *testing.T) {
		e := newAuthEnv(t, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true")
		wantError(t, e.do("POST", "/api/auth/register", "", body("r@example.com")), 403, "registration_disabled", "")
	})
	t.Run("Enabled", func(t *testing.T) {
		e := newAuthEnv(t, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true")
		e.setup()
		if r := e.do("GET", "/api/auth/status", "", nil); r.body["registration_enabled"] != true {
			t.Fatalf("status = %s", r.raw)
		}
		r := e.do("POST", "/api/auth/register", "", body("r@example.com"))
		wantStatus(t, r, 201)
		if u := r.body["user"].(map[string]any); u["role"] != "contributor" || r.body["access_token"] == "" {
			t.Fatalf("register = %s", r.raw)
		}
		wantStatus(t, e.do("POST", "/test/contribute", r.body["access_token"].(string), nil), 200)
		wantError(t, e.do("POST", "/api/auth/register", "", body("R@Example.com")), 409, "email_taken", "")
		inj := map[string]string{"email": "x@example.com", "password": "a good password", "role": "admin"}
		wantError(t, e.do("POST", "/api/auth/register", "", inj), 400, "invalid_field", "body.role")
		wantError(t, e.do("POST", "/api/auth/register", "", map[string]string{"email": "y@example.com", "password": "short"}), 400, "weak_password", "body.password")
	})
	t.Run("DefaultRoleAndDomains", func(t *testing.T) {
		e := newAuthEnv(t, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true", "TOLLGATE_AUTH_DEFAULT_ROLE=viewer",
			"TOLLGATE_AUTH_ALLOWED_EMAIL_DOMAINS=example.com,corp.example")
		e.setup()
		wantError(t, e.do("POST", "/api/auth/register", "", body("r@evil.com")), 403, "email_domain_not_allowed", "")
		wantError(t, e.do("POST", "/api/auth/register", "", body("r@sub.example.com")), 403, "email_domain_not_allowed", "")
		r := e.do("POST", "/api/auth/register", "", body("r@Corp.Example"))
		wantStatus(t, r, 201)
		if u := r.body["user"].(map[string]any); u["role"] != "viewer" {
			t.Fatalf("role = %v, want viewer", u["role"])
		}
	})
}

func TestLoginRateLimitPerIP(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=3")
	e.setup() // one attempt
	bad := map[string]string{"email": "admin@example.com", "password": "wrong password"}
	for i := 0; i < 2; i++ {
		wantError(t, e.do("POST", "/api/auth/login", "", bad), 401, "invalid_credentials", "")
	}
	r := e.do("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": adminPassword})
	wantError(t, r, 429, "rate_limit_exceeded", "")
	// 3 per minute: the next attempt is allowed within 20 s.
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 20 {
		t.Fatalf("Retry-After = %q, want whole seconds in [1, 20]", r.header.Get("Retry-After"))
	}
	if _, typ, _ := r.err(); typ != "rate_limit_error" {
		t.Fatalf("type = %s", typ)
	}
}

func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_SERVER_ADDR=0.0.0.0:0", "TOLLGATE_AUTH_REGISTRATION_ENABLED=true")
	b, _ := os.ReadFile(filepath.Join(e.app.cfg.Server.DataDir, "setup-token"))
	setupToken := strings.TrimSpace(string(b))
	secrets := []string{adminPassword, "second password!", "registered password", "wrong password 1"}
	wantStatus(t, e.do("POST", "/api/setup", "", map[string]string{"email": "admin@example.com", "password": adminPassword, "setup_token": setupToken}), 201)
	admin := e.login("admin@example.com", adminPassword)
	e.createUser(admin, "u@example.com", "second password!", "viewer")
	user := e.login("u@example.com", "second password!")
	reg := e.do("POST", "/api/auth/register", "", map[string]string{"email": "r@example.com", "password": "registered password"})
	wantStatus(t, reg, 201)
	wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "u@example.com", "password": "wrong password 1"}), 401, "invalid_credentials", "")
	wantNil(t, errOf(e.client(user).Me(t.Context())))
	wantError(t, e.do("GET", "/api/auth/me?token="+user, "", nil), 400, "invalid_field", "query.token")
	wantNil(t, e.client(user).Logout(t.Context()))
	wantCode(t, errOf(e.client(user).Me(t.Context())), 401, "invalid_authorization", "")
	// A browser session's whole life: login, use, CSRF refusals, refresh,
	// list, password change, logout, a dead cookie.
	br, login := e.sessionLogin("u@example.com", "second password!")
	secrets = append(secrets, br.cookie, br.csrf, login.body["session"].(map[string]any)["id"].(string))
	wantStatus(t, br.do("GET", "/api/auth/me", nil), 200)
	wantError(t, e.do("POST", "/api/auth/logout", "", nil, "Cookie", br.name+"="+br.cookie, "X-CSRF-Token", "wrong"), 403, "csrf_failed", "")
	wantError(t, br.do("POST", "/api/auth/logout", nil, "Sec-Fetch-Site", "cross-site"), 403, "csrf_failed", "")
	old := *br
	r := br.do("POST", "/api/auth/refresh", nil)
	wantStatus(t, r, 200)
	br.take(r)
	secrets = append(secrets, br.cookie, br.csrf, "third password!")
	wantStatus(t, br.do("GET", "/api/auth/sessions", nil), 200)
	wantError(t, br.do("PUT", "/api/auth/password", map[string]string{"current_password": "wrong password 2", "new_password": "third password!"}), 401, "invalid_credentials", "")
	pw := br.do("PUT", "/api/auth/password", map[string]string{"current_password": "second password!", "new_password": "third password!"})
	wantStatus(t, pw, 204)
	br.take(pw) // the password change renewed the session
	secrets = append(secrets, br.cookie, br.csrf)
	wantStatus(t, br.do("POST", "/api/auth/logout", nil), 204)
	wantError(t, br.do("GET", "/api/auth/me", nil), 401, "invalid_authorization", "")
	wantError(t, old.do("POST", "/api/auth/refresh", nil), 401, "invalid_authorization", "")
	secrets = append(secrets, "wrong password 2")
	secrets = append(secrets, admin, user, reg.body["access_token"].(string), testSecret)
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("no logs captured")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the logs: %.12s...", s)
		}
	}
	// The setup token is the one sanctioned exception: exactly one line, that says what it is.
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, setupToken) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "setup token") {
		t.Fatalf("setup token log lines = %q", lines)
	}
}

func TestOpenModeActsAsLocalAdmin(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_MODE=open")
	e.setup()
	me := e.do("GET", "/api/auth/me", "", nil)
	if me.status != 200 || me.body["id"] != "local" || me.body["role"] != "admin" {
		t.Fatalf("me = %s", me.raw)
	}
	if r := e.do("GET", "/api/auth/status", "", nil); r.body["mode"] != "open" {
		t.Fatalf("status = %s", r.raw)
	}
}

func TestRequiredModeWithoutUsers(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_MODE=required")
	wantCode(t, errOf(e.client("").Me(t.Context())), 401, "missing_authorization", "")
	if r := e.do("GET", "/api/auth/status", "", nil); r.body["mode"] != "required" || r.body["setup_required"] != true {
		t.Fatalf("status = %s", r.raw)
	}
	e.setup() // loopback: no setup token needed
	_ = http.StatusOK
}

func TestServeCreatesSetupTokenOtherCommandsDoNot(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "TOLLGATE_SERVER_ADDR=0.0.0.0:0")
	path := filepath.Join(cfg.Server.DataDir, "setup-token")
	a, err := newApp(t.Context(), cfg, slog.New(slog.DiscardHandler), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	a.close(t.Context())
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("newApp alone wrote the setup token: %v", err)
	}
	base, _, _ := startServe(t, cfg)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("serve did not write the setup token: %v", err)
	}
	resp, err := http.Get(strings.Replace(base, "0.0.0.0", "127.0.0.1", 1) + "/api/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("me on a public address with no users = %d, want 401", resp.StatusCode)
	}
}

// TestDeactivationRevokesJWTsAcrossReactivation: SPEC 3, deactivating
// invalidates every JWT issued before, also after a later reactivation
// (through the API and the CLI path alike: both use Service.UpdateUser).
func TestDeactivationRevokesJWTsAcrossReactivation(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	admin := e.setup()
	cid := e.createUser(admin, "c@example.com", "contributor password", "contributor")
	before := e.login("c@example.com", "contributor password")
	other := e.second()
	wantNil(t, errOf(other.client(before).Me(t.Context())))

	wantStatus(t, e.do("PATCH", "/api/admin/users/"+cid, admin, map[string]any{"active": false}), 200)
	wantCode(t, errOf(e.client(before).Me(t.Context())), 401, "invalid_authorization", "")
	wantStatus(t, e.do("PATCH", "/api/admin/users/"+cid, admin, map[string]any{"active": true}), 200)
	wantCode(t, errOf(e.client(before).Me(t.Context())), 401, "invalid_authorization", "")
	// Another instance learns both changes from the database.
	if err := other.app.identity.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, errOf(other.client(before).Me(t.Context())), 401, "invalid_authorization", "")

	after := e.login("c@example.com", "contributor password")
	wantNil(t, errOf(e.client(after).Me(t.Context())))
	wantNil(t, errOf(other.client(after).Me(t.Context())))
}

// TestJWTTimeClaimsInTheFuture: a JWT whose iat or nbf lies beyond the 30 s
// clock leeway is refused (401 invalid_authorization); within it, accepted.
func TestJWTTimeClaimsInTheFuture(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_JWT_SECRET="+testSecret)
	tok := e.setup()
	sub := e.do("GET", "/api/auth/me", tok, nil).body["id"].(string)
	now := time.Now()
	claims := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "tollgate", "aud": "tollgate", "sub": sub, "iat": now.Unix(),
			"exp": now.Add(time.Hour).Unix(), "jti": "j1", "typ": "access"}
		c[k] = v
		return c
	}
	wantError(t, e.do("GET", "/api/auth/me", sign(t, testSecret, claims("iat", now.Add(10*time.Minute).Unix())), nil), 401, "invalid_authorization", "")
	wantError(t, e.do("GET", "/api/auth/me", sign(t, testSecret, claims("nbf", now.Add(10*time.Minute).Unix())), nil), 401, "invalid_authorization", "")
	wantStatus(t, e.do("GET", "/api/auth/me", sign(t, testSecret, claims("nbf", now.Add(-time.Minute).Unix())), nil), 200)
}
