package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// authEnv is a real app (newApp, SQLite under t.TempDir()) behind
// httptest, with a contributor-only test route, its logs captured.
type authEnv struct {
	t    *testing.T
	app  *app
	url  string
	logs *syncBuffer
	deps appDeps
}

// newAuthEnv starts an app with cheap password hashing (testDeps).
func newAuthEnv(t *testing.T, environ ...string) *authEnv {
	t.Helper()
	return newAuthEnvDeps(t, testDeps(nil), environ...)
}

// newAuthEnvDeps starts an app with deps, e.g. appDeps{} for the
// production password cost.
func newAuthEnvDeps(t *testing.T, deps appDeps, environ ...string) *authEnv {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return startAuthEnv(t, testConfig(t, environ...), log, logs, deps)
}

// second is another instance on the same database (as with PostgreSQL
// behind a load balancer), sharing the log sink.
func (e *authEnv) second() *authEnv {
	return startAuthEnv(e.t, e.app.cfg, e.app.log, e.logs, e.deps)
}

func startAuthEnv(t *testing.T, cfg *config.Config, log *slog.Logger, logs *syncBuffer, deps appDeps) *authEnv {
	t.Helper()
	a, err := newApp(context.Background(), cfg, log, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(context.Background()) })
	if err := a.identity.PrepareSetup(context.Background()); err != nil { // as runServe does
		t.Fatal(err)
	}
	a.api.Handle(httpapi.Route{Method: "POST", Path: "/test/contribute", Access: httpapi.Requires(gateway.RoleContributor),
		OperationID: "testContribute", Handler: func(w http.ResponseWriter, r *http.Request) error {
			return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"role": gateway.PrincipalFrom(r.Context()).Role.String()})
		}})
	return &authEnv{t: t, app: a, url: newHTTPTest(t, a), logs: logs, deps: deps}
}

type reply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// errCode returns error.code, error.type and error.param ("" for null).
// Anthropic's shape (/v1/messages) gives its type, and the code and
// param from its message ("code: text (param)").
func (r reply) err() (code, typ, param string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	typ, _ = e["type"].(string)
	param, _ = e["param"].(string)
	if r.body["type"] == "error" {
		msg, _ := e["message"].(string)
		var rest string
		code, rest, _ = strings.Cut(msg, ": ")
		if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
			param = rest[i+2 : len(rest)-1]
		}
	}
	return
}

func (e *authEnv) do(method, path, token string, body any, hdr ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			buf, err := json.Marshal(b)
			if err != nil {
				e.t.Fatal(err)
			}
			rd = bytes.NewReader(buf)
		}
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return out
}

// wantStatus fails unless r has the status.
func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
}

// wantError fails unless r is the SPEC error with status, code and param.
func wantError(t *testing.T, r reply, status int, code, param string) {
	t.Helper()
	wantStatus(t, r, status)
	got, _, gotParam := r.err()
	if got != code || gotParam != param {
		t.Fatalf("error = %s (param %q), want %s (param %q); body %s", got, gotParam, code, param, r.raw)
	}
}

const adminPassword = "correct horse battery staple"

// client is the typed API client of the app, sending tok ("" for none).
func (e *authEnv) client(tok string) *client.Client { return client.New(e.url).WithToken(tok) }

// setup creates the first admin and returns their token.
func (e *authEnv) setup() string {
	e.t.Helper()
	if _, err := e.client("").Setup(e.t.Context(), httpapi.SetupRequest{Email: "admin@example.com", Password: adminPassword, DisplayName: "Admin"}); err != nil {
		e.t.Fatalf("setup: %v", err)
	}
	return e.login("admin@example.com", adminPassword)
}

func (e *authEnv) login(email, password string) string {
	e.t.Helper()
	res, err := e.client("").Login(e.t.Context(), email, gateway.Secret(password))
	if err != nil {
		e.t.Fatalf("login %s: %v", email, err)
	}
	if res.AccessToken == "" {
		e.t.Fatalf("login gave no token: %+v", res)
	}
	return res.AccessToken
}

// createUser creates a user through the admin API and returns its id.
func (e *authEnv) createUser(adminTok, email, password, role string) string {
	e.t.Helper()
	u, err := e.client(adminTok).CreateUser(e.t.Context(), httpapi.CreateUserRequest{Email: email, Password: gateway.Secret(password), Role: role, DisplayName: "U"})
	if err != nil {
		e.t.Fatalf("create user %s: %v", email, err)
	}
	return u.ID
}

// errOf is the error of a client call, for wantNil and wantCode.
func errOf[T any](_ T, err error) error { return err }

// wantNil fails on a client error.
func wantNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
}

// wantCode fails unless err is the SPEC error with status, code and param
// as the client returns it (a *gateway.Error with the status's Kind).
func wantCode(t *testing.T, err error, status int, code, param string) {
	t.Helper()
	ge, ok := gateway.AsError(err)
	if !ok {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	if ge.Status != status || ge.Code != code || ge.Param != param || ge.Kind != client.KindOf(status, gateway.KindInternal) {
		t.Fatalf("err = %d %s (param %q, kind %d), want %d %s (param %q)", ge.Status, ge.Code, ge.Param, ge.Kind, status, code, param)
	}
}
