package oauth_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/oauth"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// testSignIn is THE TEST'S minimal stand-in for the browser-session
// service (not production code): a "test_session" cookie holding the
// user id.
type testSignIn struct{ st *sqlstore.Store }

func (s testSignIn) StartSession(_ context.Context, w http.ResponseWriter, _ *http.Request, u gateway.User) error {
	http.SetCookie(w, &http.Cookie{Name: "test_session", Value: u.ID, Path: "/", HttpOnly: true})
	return nil
}

func (s testSignIn) CurrentUser(r *http.Request) (gateway.User, bool) {
	c, err := r.Cookie("test_session")
	if err != nil {
		return gateway.User{}, false
	}
	u, err := s.st.User(r.Context(), c.Value)
	return u, err == nil && u.Active
}

type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	st    *sqlstore.Store
	srv   *httptest.Server
	svc   *oauth.Service
	logs  *syncBuffer
	clock *clock
	admin gateway.User
}

// newEnv serves the real router (httpapi) with the OAuth routes over a
// real SQLite store holding one admin. providers get PublicURL's server.
func newEnv(t *testing.T, clk *clock, providers ...oauth.Provider) *env {
	e := &env{t: t, st: sqltest.SQLite(t), logs: &syncBuffer{}, clock: clk}
	e.admin = gateway.User{Email: "admin@example.com", Role: gateway.RoleAdmin, Active: true}
	if err := e.st.CreateUser(context.Background(), &e.admin); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	svc, err := oauth.New(oauth.Options{Providers: providers, Store: e.st, SignIn: testSignIn{e.st}, PublicURL: e.srv.URL,
		BindingKey: []byte("0123456789abcdef0123456789abcdef"), DefaultRole: gateway.RoleContributor, Log: log, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	h = httpapi.New(httpapi.Options{OAuth: svc, Log: log}).Handler()
	return e
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get sends a request without following redirects.
func (e *env) do(method, u string, form url.Values, cookies ...*http.Cookie) *http.Response {
	e.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// flow is one browser's trip: start (with its cookies), the provider's
// approval, and the callback's query (code, state) and binding cookie.
type flow struct {
	start    *http.Response
	binding  *http.Cookie
	callback *url.URL // the provider's redirect back to us
}

func (e *env) begin(name string, cookies ...*http.Cookie) flow {
	e.t.Helper()
	resp := e.do("GET", e.srv.URL+"/api/auth/oauth/"+name, nil, cookies...)
	f := flow{start: resp, binding: cookieNamed(resp, oauth.BindingCookie)}
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("start: status %d, want 302", resp.StatusCode)
	}
	loc, _ := resp.Location()
	if !strings.HasPrefix(loc.String(), e.srv.URL) { // went to the provider
		back := e.do("GET", loc.String(), nil)
		if back.StatusCode != http.StatusFound {
			e.t.Fatalf("provider authorize: status %d", back.StatusCode)
		}
		f.callback, _ = back.Location()
	}
	return f
}

// finish delivers the callback (GET, or the form_post of Apple) with the
// given cookies and returns the response.
func (e *env) finish(f flow, post bool, q url.Values, cookies ...*http.Cookie) *http.Response {
	e.t.Helper()
	u := *f.callback
	if q == nil {
		q = u.Query()
	}
	if post {
		u.RawQuery = ""
		return e.do("POST", u.String(), q, cookies...)
	}
	u.RawQuery = q.Encode()
	return e.do("GET", u.String(), nil, cookies...)
}

// wantLoginError asserts a redirect to the login page with ?error=code.
func wantLoginError(t *testing.T, resp *http.Response, code string) {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("answer %d to %q, want 302 to /login?error=%s", resp.StatusCode, loc, code)
	}
	u, _ := url.Parse(loc)
	if got := u.Query().Get("error"); got != code {
		t.Fatalf("login error = %q, want %q (Location %s)", got, code, loc)
	}
	if cookieNamed(resp, "test_session") != nil {
		t.Fatal("a failed flow signed in")
	}
}

// wantSignedIn asserts the redirect to / with a session for the user
// with email, and returns that user.
func (e *env) wantSignedIn(resp *http.Response, email string) (gateway.User, *http.Cookie) {
	e.t.Helper()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		e.t.Fatalf("callback answered %d to %q, want 302 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := cookieNamed(resp, "test_session")
	if c == nil {
		e.t.Fatal("callback set no session")
	}
	u, err := e.st.User(context.Background(), c.Value)
	if err != nil || !strings.EqualFold(u.Email, email) {
		e.t.Fatalf("signed in as %+v (%v), want %s", u, err, email)
	}
	return u, c
}

func (e *env) userCount() int {
	e.t.Helper()
	n, err := e.st.CountUsers(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// assertNoSecretsLogged fails when a log line holds any of the values.
func (e *env) assertNoSecretsLogged(values ...string) {
	e.t.Helper()
	logs := e.logs.String()
	for _, v := range values {
		if len(v) >= 8 && strings.Contains(logs, v) {
			e.t.Errorf("a log line holds a secret value %q:\n%s", v, logs)
		}
	}
}
