package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/oauth"
	"github.com/tollgate/tollgate/internal/oauth/oauthtest"
)

// oauthPublicHost is server.public_url's host in the OAuth tests. Browsers
// reach the server by that name (as behind a reverse proxy): the test
// transport dials the server's real loopback address for it, so the
// provider's redirects back to the callback URL work unchanged.
const oauthPublicHost = "gw.test"

// oauthE2E is a served app (runServe) with three [[auth.oauth]] providers
// against in-process fakes: "corp" (oidc, oauthtest.Issuer), "github"
// (oauthtest.GitHub, wired through appDeps.oauthProvider) and "apple"
// (oauthtest.Issuer in Apple mode, its .p8 key in a file).
type oauthE2E struct {
	t      *testing.T
	base   string // the server's real address
	public string // server.public_url
	corp   *oauthtest.Issuer
	apple  *oauthtest.Issuer
	gh     *oauthtest.GitHub
	logs   *syncBuffer
	admin  string // the first admin's JWT
	seen   []string
	dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newOAuthE2E(t *testing.T) *oauthE2E {
	t.Helper()
	e := &oauthE2E{t: t, public: "http://" + oauthPublicHost, logs: &syncBuffer{}}
	e.corp = oauthtest.NewIssuer(t, time.Now)
	key := oauthtest.NewAppleKey(t)
	ac := oauthtest.Apple{ClientID: "com.example.tollgate", TeamID: "TEAM123456", KeyID: "KEY1234567", Key: &key.PublicKey}
	e.apple = oauthtest.NewAppleIssuer(t, time.Now, ac)
	e.gh = oauthtest.NewGitHub(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "AuthKey_KEY1234567.p8")
	if err := os.WriteFile(keyFile, oauthtest.AppleKeyPEM(t, key), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfigTOML(t, fmt.Sprintf(`
[server]
public_url = %q

[[auth.oauth]]
name = "corp"
type = "oidc"
issuer = %q
client_id = %q
client_secret_env = "CORP_SECRET"
auto_register = true
default_role = "viewer"

[[auth.oauth]]
name = "github"
type = "github"
client_id = %q
client_secret_env = "GH_SECRET"
auto_register = true

[[auth.oauth]]
name = "apple"
type = "apple"
client_id = %q
team_id = %q
key_id = %q
private_key_file = %q
auto_register = true
`, e.public, e.corp.URL(), e.corp.ClientID(), e.gh.ClientID(), ac.ClientID, ac.TeamID, ac.KeyID, keyFile))
	deps := testDeps(nil)
	deps.getenv = mapEnv(map[string]string{"CORP_SECRET": e.corp.ClientSecret(), "GH_SECRET": e.gh.ClientSecret()})
	deps.oauthProvider = func(p *oauth.Provider) {
		switch p.Type {
		case oauth.TypeGitHub:
			p.Endpoint, p.APIURL = e.gh.Endpoint(), e.gh.APIURL()
		case oauth.TypeApple:
			p.Issuer = e.apple.URL()
		}
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, e.base, _, _ = startServeAppWith(t, cfg, log, deps)
	addr := strings.TrimPrefix(e.base, "http://")
	var d net.Dialer
	e.dialer = func(ctx context.Context, network, a string) (net.Conn, error) {
		if a == oauthPublicHost+":80" {
			a = addr
		}
		return d.DialContext(ctx, network, a)
	}
	c := client.New(e.base)
	if _, err := c.Setup(t.Context(), httpapi.SetupRequest{Email: "admin@example.com", Password: adminPassword, DisplayName: "Admin"}); err != nil {
		t.Fatalf("setup: %v", err)
	}
	res, err := c.Login(t.Context(), "admin@example.com", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	e.admin = res.AccessToken
	e.seen = append(e.seen, e.corp.ClientSecret(), e.gh.ClientSecret())
	return e
}

// createUser creates a password user through the admin API.
func (e *oauthE2E) createUser(email, password string) string {
	e.t.Helper()
	u, err := client.New(e.base).WithToken(e.admin).CreateUser(e.t.Context(),
		httpapi.CreateUserRequest{Email: email, Password: gateway.Secret(password), Role: "contributor", DisplayName: "U"})
	if err != nil {
		e.t.Fatalf("create user %s: %v", email, err)
	}
	return u.ID
}

// oauthBrowser is one browser: its cookies for the public host (with their
// paths; a cookie goes only to requests under its path), no redirects
// followed on its own.
type oauthBrowser struct {
	e       *oauthE2E
	hc      *http.Client
	cookies map[string]*http.Cookie
}

func (e *oauthE2E) browser() *oauthBrowser {
	return &oauthBrowser{e: e, cookies: map[string]*http.Cookie{}, hc: &http.Client{
		Transport:     &http.Transport{DialContext: e.dialer},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// oauthReply is an answer with its body read.
type oauthReply struct {
	*http.Response
	body string
}

// setCookies returns the answer's Set-Cookie lines.
func (r oauthReply) setCookies() []string { return r.Header["Set-Cookie"] }

// do sends a request to u (absolute), with the browser's cookies when u
// is on the public host, and keeps the cookies the answer sets. form is
// sent urlencoded, json as a JSON body.
func (b *oauthBrowser) do(method, u string, form url.Values, jsonBody string, hdr ...string) oauthReply {
	b.e.t.Helper()
	var body io.Reader
	switch {
	case form != nil:
		body = strings.NewReader(form.Encode())
	case jsonBody != "":
		body = strings.NewReader(jsonBody)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	switch {
	case form != nil:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case jsonBody != "":
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	public := req.URL.Host == oauthPublicHost
	if public {
		for _, c := range b.cookies {
			if strings.HasPrefix(req.URL.Path, c.Path) {
				req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
		}
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if public {
		for _, c := range resp.Cookies() {
			b.e.seen = append(b.e.seen, c.Value)
			if c.MaxAge < 0 {
				delete(b.cookies, c.Name)
			} else {
				b.cookies[c.Name] = c
			}
		}
	}
	return oauthReply{Response: resp, body: string(raw)}
}

func (b *oauthBrowser) get(path string, hdr ...string) oauthReply {
	b.e.t.Helper()
	return b.do("GET", b.e.public+path, nil, "", hdr...)
}

// cookie is the value of the browser's cookie name ("" when none).
func (b *oauthBrowser) cookie(name string) string {
	if c := b.cookies[name]; c != nil {
		return c.Value
	}
	return ""
}

// passwordLogin signs the browser in with POST /api/auth/sessions.
func (b *oauthBrowser) passwordLogin(email, password string) oauthReply {
	b.e.t.Helper()
	r := b.do("POST", b.e.public+"/api/auth/sessions", nil, fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if r.StatusCode != http.StatusCreated {
		b.e.t.Fatalf("session login: %d %s", r.StatusCode, r.body)
	}
	return r
}

// authorize starts the flow of provider name (path adds e.g. "?link=1")
// and lets the provider approve: it returns the provider's redirect back
// to the callback.
func (b *oauthBrowser) authorize(name, query string) (start oauthReply, callback *url.URL) {
	b.e.t.Helper()
	start = b.get("/api/auth/oauth/" + name + query)
	loc, err := start.Location()
	if start.StatusCode != http.StatusFound || err != nil {
		b.e.t.Fatalf("start %s: %d %v", name, start.StatusCode, start.Header)
	}
	if loc.Host == oauthPublicHost {
		b.e.t.Fatalf("start %s redirected to %s, not to the provider", name, loc)
	}
	back := b.do("GET", loc.String(), nil, "")
	if back.StatusCode != http.StatusFound {
		b.e.t.Fatalf("provider authorize: %d %s", back.StatusCode, back.body)
	}
	callback, _ = back.Location()
	want := b.e.public + "/api/auth/oauth/" + name + "/callback"
	if got := callback.Scheme + "://" + callback.Host + callback.Path; got != want {
		b.e.t.Fatalf("provider redirected to %s, want %s", got, want)
	}
	return start, callback
}

// signIn runs the whole GET flow of provider name and returns the
// callback's answer.
func (b *oauthBrowser) signIn(name, query string) oauthReply {
	b.e.t.Helper()
	_, cb := b.authorize(name, query)
	return b.do("GET", cb.String(), nil, "")
}

// me is GET /api/auth/me with the browser's cookies.
func (b *oauthBrowser) me() map[string]any {
	b.e.t.Helper()
	r := b.get("/api/auth/me")
	if r.StatusCode != http.StatusOK {
		b.e.t.Fatalf("me: %d %s", r.StatusCode, r.body)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		b.e.t.Fatal(err)
	}
	return out
}

// wantSignedIn asserts the callback's answer: 302 to /, the binding cookie
// cleared and both session cookies set exactly as a password login sets
// them.
func (b *oauthBrowser) wantSignedIn(r oauthReply) {
	b.e.t.Helper()
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/" {
		b.e.t.Fatalf("callback answered %d to %q, want 302 to /; body %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	sess, csrf := b.cookie("tollgate_session"), b.cookie("tollgate_csrf")
	if !cookieValue.MatchString(sess) || !cookieValue.MatchString(csrf) {
		b.e.t.Fatalf("session cookies %q %q", sess, csrf)
	}
	want := []string{
		"tollgate_oauth=; Path=/api/auth/oauth/; Max-Age=0; HttpOnly; SameSite=Lax",
		"tollgate_session=" + sess + "; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax",
		"tollgate_csrf=" + csrf + "; Path=/; Max-Age=604800; SameSite=Strict",
	}
	if r.Request.Method == http.MethodPost { // apple's binding cookie is SameSite=None
		want[0] = "tollgate_oauth=; Path=/api/auth/oauth/; Max-Age=0; HttpOnly; Secure; SameSite=None"
	}
	if got := r.setCookies(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		b.e.t.Fatalf("Set-Cookie =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		b.e.t.Fatalf("Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
	// The session's public id must stay out of the logs too.
	var list struct {
		Data []struct{ ID string } `json:"data"`
	}
	ls := b.get("/api/auth/sessions")
	if err := json.Unmarshal([]byte(ls.body), &list); ls.StatusCode != http.StatusOK || err != nil {
		b.e.t.Fatalf("sessions: %d %s", ls.StatusCode, ls.body)
	}
	for _, s := range list.Data {
		b.e.seen = append(b.e.seen, s.ID)
	}
}

// wantLoginError asserts a failed flow: 302 to exactly
// /login?error=code&provider=name and no session cookie set.
func wantOAuthError(t *testing.T, r oauthReply, code, provider string) {
	t.Helper()
	want := "/login?" + url.Values{"error": {code}, "provider": {provider}}.Encode()
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != want {
		t.Fatalf("answered %d to %q, want 302 to %q; body %s", r.StatusCode, r.Header.Get("Location"), want, r.body)
	}
	for _, sc := range r.setCookies() {
		if !strings.HasPrefix(sc, "tollgate_oauth=") {
			t.Fatalf("a failed flow set %q", sc)
		}
	}
}

func TestOAuthEndToEnd(t *testing.T) {
	t.Parallel()
	e := newOAuthE2E(t)

	t.Run("StatusListsProviders", func(t *testing.T) {
		r := e.browser().get("/api/auth/status")
		var st struct {
			OAuthProviders json.RawMessage `json:"oauth_providers"`
		}
		if err := json.Unmarshal([]byte(r.body), &st); r.StatusCode != 200 || err != nil {
			t.Fatalf("status: %d %s", r.StatusCode, r.body)
		}
		want := `[{"name":"corp","type":"oidc"},{"name":"github","type":"github"},{"name":"apple","type":"apple"}]`
		if string(st.OAuthProviders) != want {
			t.Fatalf("oauth_providers = %s, want %s", st.OAuthProviders, want)
		}
	})

	// The cookies a password login sets, values aside: OAuth must set the
	// same.
	t.Run("SameCookiesAsPasswordLogin", func(t *testing.T) {
		b := e.browser()
		r := b.passwordLogin("admin@example.com", adminPassword)
		want := []string{
			"tollgate_session=" + b.cookie("tollgate_session") + "; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax",
			"tollgate_csrf=" + b.cookie("tollgate_csrf") + "; Path=/; Max-Age=604800; SameSite=Strict",
		}
		if got := r.setCookies(); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("password login Set-Cookie = %q, want %q (wantSignedIn compares OAuth with these)", got, want)
		}
	})

	var newUserID string
	t.Run("OIDCFullFlow", func(t *testing.T) {
		b := e.browser()
		start, cb := b.authorize("corp", "")
		if got := start.setCookies(); len(got) != 1 || !strings.HasPrefix(got[0], "tollgate_oauth=") ||
			!strings.HasSuffix(got[0], "; Path=/api/auth/oauth/; Max-Age=600; HttpOnly; SameSite=Lax") {
			t.Fatalf("start Set-Cookie = %q", got)
		}
		loc, _ := start.Location()
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), e.corp.URL()+"/authorize?") || q.Get("redirect_uri") != e.public+"/api/auth/oauth/corp/callback" ||
			q.Get("code_challenge_method") != "S256" || q.Get("client_id") != e.corp.ClientID() {
			t.Fatalf("authorize URL = %s", loc)
		}
		r := b.do("GET", cb.String(), nil, "")
		b.wantSignedIn(r)
		me := b.me()
		if me["email"] != "new@example.com" || me["role"] != "viewer" || me["display_name"] != "New Person" {
			t.Fatalf("me = %v, want the new viewer New Person", me)
		}
		newUserID, _ = me["id"].(string)
		// The session is an ordinary one: it refreshes with its CSRF token.
		ref := b.do("POST", e.public+"/api/auth/refresh", nil, "", "X-CSRF-Token", b.cookie("tollgate_csrf"))
		if ref.StatusCode != 200 || ref.Header.Get("X-Session-Rotated") != "1" {
			t.Fatalf("refresh: %d %s", ref.StatusCode, ref.body)
		}
	})

	t.Run("SecondSignInSameUser", func(t *testing.T) {
		// The provider now reports another email: the subject decides.
		e.corp.SetAccount(oauthtest.Account{Sub: "sub-1", Email: "renamed@example.com", Verified: true})
		defer e.corp.SetAccount(oauthtest.DefaultAccount)
		b := e.browser()
		b.wantSignedIn(b.signIn("corp", ""))
		me := b.me()
		if me["id"] != newUserID || me["email"] != "new@example.com" {
			t.Fatalf("second sign-in: me = %v, want user %s new@example.com", me, newUserID)
		}
	})

	t.Run("AuditRecords", func(t *testing.T) {
		// The first sign-in registered the user; both signed in (SPEC 8.1).
		for _, tc := range []struct {
			action string
			n      int
		}{{"auth.register", 1}, {"auth.oauth_login", 2}} {
			recs := e.auditRecords(tc.action)
			if len(recs) != tc.n {
				t.Fatalf("%s records = %d, want %d", tc.action, len(recs), tc.n)
			}
			for _, r := range recs {
				if r.Actor != (gateway.AuditRef{Type: "user", ID: newUserID}) || r.Outcome != "success" || !strings.Contains(string(r.Details), `"provider":"corp"`) {
					t.Fatalf("%s record = %+v", tc.action, r)
				}
			}
		}
	})

	t.Run("LinkWhileSignedIn", func(t *testing.T) {
		aliceID := e.createUser("alice@example.com", "alice password 1")
		defer func() {
			recs := e.auditRecords("auth.oauth_linked")
			if len(recs) != 1 || recs[0].Actor != (gateway.AuditRef{Type: "user", ID: aliceID}) || recs[0].Target == nil || recs[0].Target.ID != aliceID {
				t.Errorf("auth.oauth_linked records = %+v, want one by and about alice", recs)
			}
		}()
		e.corp.SetAccount(oauthtest.Account{Sub: "alice-sub", Email: "alice@example.com", Verified: true})
		defer e.corp.SetAccount(oauthtest.DefaultAccount)
		// Without a session, ?link=1 stops before the provider.
		wantOAuthError(t, e.browser().get("/api/auth/oauth/corp?link=1"), "login_required", "corp")

		b := e.browser()
		b.passwordLogin("alice@example.com", "alice password 1")
		sess, csrf := b.cookie("tollgate_session"), b.cookie("tollgate_csrf")
		r := b.signIn("corp", "?link=1")
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/" {
			t.Fatalf("link answered %d to %q", r.StatusCode, r.Header.Get("Location"))
		}
		// Linking keeps the browser's session: only the binding is cleared.
		if got := r.setCookies(); len(got) != 1 || got[0] != "tollgate_oauth=; Path=/api/auth/oauth/; Max-Age=0; HttpOnly; SameSite=Lax" {
			t.Fatalf("link Set-Cookie = %q", got)
		}
		if b.cookie("tollgate_session") != sess || b.cookie("tollgate_csrf") != csrf || b.me()["id"] != aliceID {
			t.Fatal("linking changed the browser's session")
		}
		// The provider now signs alice in, in a fresh browser.
		fresh := e.browser()
		fresh.wantSignedIn(fresh.signIn("corp", ""))
		if me := fresh.me(); me["id"] != aliceID || me["email"] != "alice@example.com" {
			t.Fatalf("linked sign-in: me = %v, want alice %s", me, aliceID)
		}
	})

	t.Run("ExistingEmailDoesNotTakeOver", func(t *testing.T) {
		e.createUser("bob@example.com", "bob password 1")
		e.corp.SetAccount(oauthtest.Account{Sub: "evil-sub", Email: "Bob@Example.com", Verified: true})
		defer e.corp.SetAccount(oauthtest.DefaultAccount)
		b := e.browser()
		wantOAuthError(t, b.signIn("corp", ""), "email_taken", "corp")
		if b.cookie("tollgate_session") != "" {
			t.Fatal("the failed flow left a session cookie")
		}
		if r := b.get("/api/auth/me"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("me after email_taken = %d", r.StatusCode)
		}
	})

	t.Run("AppleFormPostWithSessionCookie", func(t *testing.T) {
		e.apple.SetAccount(oauthtest.Account{Sub: "001.apple", Email: "apple@example.com", Verified: true})
		b := e.browser()
		b.passwordLogin("admin@example.com", adminPassword) // already signed in
		old := b.cookie("tollgate_session")
		start, cb := b.authorize("apple", "")
		if got := start.setCookies(); len(got) != 1 ||
			!strings.HasSuffix(got[0], "; Path=/api/auth/oauth/; Max-Age=600; HttpOnly; Secure; SameSite=None") {
			t.Fatalf("apple start Set-Cookie = %q", got)
		}
		if loc, _ := start.Location(); loc.Query().Get("response_mode") != "form_post" {
			t.Fatalf("apple authorize URL = %s", loc)
		}
		// Apple's page posts the form back cross-site: the browser sends
		// its session cookie but no X-CSRF-Token.
		form := cb.Query()
		form.Set("user", `{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"apple@example.com"}`)
		target := *cb
		target.RawQuery = ""
		r := b.do("POST", target.String(), form, "", "Origin", "https://appleid.apple.com", "Sec-Fetch-Site", "cross-site")
		b.wantSignedIn(r)
		if b.cookie("tollgate_session") == old {
			t.Fatal("the apple sign-in kept the old session id")
		}
		me := b.me()
		if me["email"] != "apple@example.com" || me["display_name"] != "Ada Lovelace" || me["role"] != "contributor" {
			t.Fatalf("me = %v, want the new contributor Ada Lovelace", me)
		}
	})

	t.Run("GitHubFullFlow", func(t *testing.T) {
		b := e.browser()
		start, _ := b.authorize("github", "")
		if loc, _ := start.Location(); !strings.HasPrefix(loc.String(), e.gh.Endpoint().AuthURL+"?") ||
			loc.Query().Get("scope") != "read:user user:email" || loc.Query().Get("code_challenge_method") != "S256" {
			t.Fatalf("github authorize URL = %s", loc)
		}
		b = e.browser()
		b.wantSignedIn(b.signIn("github", ""))
		me := b.me()
		if me["email"] != "octo@example.com" || me["display_name"] != "The Octocat" || me["role"] != "contributor" {
			t.Fatalf("me = %v, want the new contributor The Octocat", me)
		}
	})

	t.Run("NoSecretsLogged", func(t *testing.T) {
		secrets := append([]string{}, e.seen...)
		secrets = append(secrets, e.corp.Secrets()...)
		secrets = append(secrets, e.apple.Secrets()...)
		secrets = append(secrets, e.gh.Secrets()...)
		logs := e.logs.String()
		if !strings.Contains(logs, `msg="oauth sign-in failed" provider=corp error_code=email_taken`) ||
			!strings.Contains(logs, `msg="oauth sign-in" provider=apple`) {
			t.Fatalf("the flows were not logged:\n%s", logs)
		}
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(logs, s) {
				t.Errorf("a log line holds a secret %q", s)
			}
		}
	})
}

// auditRecords returns the audit records of action, through the admin API.
func (e *oauthE2E) auditRecords(action string) []gateway.AuditRecord {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+"/api/admin/audit?limit=200&action="+action, nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Data []gateway.AuditRecord `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("GET /api/admin/audit: %d %v", resp.StatusCode, err)
	}
	return page.Data
}
