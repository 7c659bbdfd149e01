package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

type echoRequest struct {
	Name  string `json:"name"`
	Count int    `json:"count,omitempty"`
}

func (e *echoRequest) Validate() error { return httpapi.Required("name", e.Name) }

// newTestServer is the real router with two extra routes that exercise the
// JSON decoding and panic paths.
func newTestServer(t *testing.T, opt httpapi.Options) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	}
	opt.MaxBodyBytes = 1024
	s := httpapi.New(opt)
	s.Handle(httpapi.Route{Method: "POST", Path: "/test/echo", Access: httpapi.Public, OperationID: "testEcho",
		Request: echoRequest{}, Response: echoRequest{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in echoRequest
			if err := httpapi.DecodeJSON(r, &in, false); err != nil {
				return err
			}
			return httpapi.WriteJSON(w, http.StatusOK, in)
		}})
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/panic", Access: httpapi.Public, OperationID: "testPanic",
		Handler: func(w http.ResponseWriter, r *http.Request) error { panic("boom") }})
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/admin", Access: httpapi.Requires(gateway.RoleAdmin), OperationID: "testAdmin",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"role": gateway.PrincipalFrom(r.Context()).Role.String()})
		}})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, &logs
}

type envelope struct {
	Error struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func newReq(t *testing.T, method, url, ctype string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

// wantError asserts an exact status and envelope.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, typ, code string, param *string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", got)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("body is not JSON: %s", body)
	}
	if len(raw) != 1 || len(raw["error"]) != 4 {
		t.Fatalf("envelope has unexpected shape: %s", body)
	}
	var env envelope
	_ = json.Unmarshal(body, &env)
	if env.Error.Type != typ || env.Error.Code != code || env.Error.Message == "" {
		t.Fatalf("error = %+v, want type %q code %q and a message", env.Error, typ, code)
	}
	if diff := cmp.Diff(param, env.Error.Param); diff != "" {
		t.Fatalf("param mismatch (-want +got):\n%s", diff)
	}
}

func ptr(s string) *string { return &s }

func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, httpapi.Options{})
	cases := []struct {
		name        string
		req         *http.Request
		status      int
		typ, code   string
		param       *string
		wantHeaders map[string]string
	}{
		{"RouterNotFound", newReq(t, "GET", srv.URL+"/no/such/path", "", nil), 404, "not_found_error", "not_found", nil, nil},
		{"MethodNotAllowed", newReq(t, "DELETE", srv.URL+"/healthz", "", nil), 405, "invalid_request_error", "method_not_allowed", nil, map[string]string{"Allow": "GET, HEAD"}},
		{"UnsupportedMediaType", newReq(t, "POST", srv.URL+"/test/echo", "text/plain", strings.NewReader(`{"name":"a"}`)), 415, "invalid_request_error", "unsupported_media_type", ptr("headers.content-type"), nil},
		{"FormBody", newReq(t, "POST", srv.URL+"/test/echo", "application/x-www-form-urlencoded", strings.NewReader(`name=a`)), 415, "invalid_request_error", "unsupported_media_type", ptr("headers.content-type"), nil},
		{"MalformedJSON", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":`)), 400, "invalid_request_error", "invalid_json", nil, nil},
		{"TrailingGarbage", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a"} {}`)), 400, "invalid_request_error", "invalid_json", nil, nil},
		{"DuplicateKey", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","name":"b"}`)), 400, "invalid_request_error", "invalid_json", ptr("body.name"), nil},
		{"NestedDuplicateKey", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","x":[{"k":1,"k":2}]}`)), 400, "invalid_request_error", "invalid_json", ptr("body.k"), nil},
		{"DuplicateKeyFolded", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","NAME":"b"}`)), 400, "invalid_request_error", "invalid_json", ptr("body.NAME"), nil},
		{"NestedAtLimit", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","x":`+strings.Repeat("[", 127)+strings.Repeat("]", 127)+`}`)), 400, "invalid_request_error", "invalid_field", ptr("body.x"), nil},
		{"NestedTooDeep", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","x":`+strings.Repeat("[", 128)+strings.Repeat("]", 128)+`}`)), 400, "invalid_request_error", "invalid_json", nil, nil},
		{"UnknownField", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","role":"admin"}`)), 400, "invalid_request_error", "invalid_field", ptr("body.role"), nil},
		{"WrongType", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"a","count":"x"}`)), 400, "invalid_request_error", "invalid_field", ptr("body.count"), nil},
		{"MissingField", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{}`)), 400, "invalid_request_error", "missing_field", ptr("body.name"), nil},
		{"NotAnObject", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`[1]`)), 400, "invalid_request_error", "invalid_json", nil, nil},
		{"TooLargeDeclared", newReq(t, "POST", srv.URL+"/test/echo", "application/json", strings.NewReader(`{"name":"`+strings.Repeat("a", 2000)+`"}`)), 413, "invalid_request_error", "body_too_large", nil, nil},
		{"Panic", newReq(t, "GET", srv.URL+"/test/panic", "", nil), 500, "server_error", "internal_error", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.req)
			wantError(t, resp, body, tc.status, tc.typ, tc.code, tc.param)
			for k, v := range tc.wantHeaders {
				if got := resp.Header.Get(k); got != v {
					t.Fatalf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	t.Run("TooLargeStreamed", func(t *testing.T) {
		// A chunked body has no Content-Length: the limit must still hold
		// while it is read.
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"name":"`))
			for i := 0; i < 20; i++ {
				pw.Write(bytes.Repeat([]byte("a"), 100))
			}
			pw.Write([]byte(`"}`))
			pw.Close()
		}()
		req := newReq(t, "POST", srv.URL+"/test/echo", "application/json", pr)
		req.ContentLength = -1
		resp, body := do(t, req)
		wantError(t, resp, body, 413, "invalid_request_error", "body_too_large", nil)
	})
	t.Run("ValidRequest", func(t *testing.T) {
		resp, body := do(t, newReq(t, "POST", srv.URL+"/test/echo", "application/json; charset=utf-8", strings.NewReader(`{"name":"ok","count":2}`)))
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"name":"ok","count":2}` {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
}

func TestPanicIsLoggedAndServerLives(t *testing.T) {
	t.Parallel()
	srv, logs := newTestServer(t, httpapi.Options{})
	resp, body := do(t, newReq(t, "GET", srv.URL+"/test/panic", "", nil))
	wantError(t, resp, body, 500, "server_error", "internal_error", nil)
	if !strings.Contains(logs.String(), `"panic":"boom"`) {
		t.Fatalf("panic not logged: %s", logs.String())
	}
	if strings.Contains(string(body), "boom") {
		t.Fatalf("panic value rendered to the client: %s", body)
	}
	resp, _ = do(t, newReq(t, "GET", srv.URL+"/healthz", "", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("healthz after panic = %d, want 200", resp.StatusCode)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, httpapi.Options{})
	t.Run("Generated", func(t *testing.T) {
		r1, _ := do(t, newReq(t, "GET", srv.URL+"/healthz", "", nil))
		r2, _ := do(t, newReq(t, "GET", srv.URL+"/no/such", "", nil))
		id1, id2 := r1.Header.Get("X-Request-Id"), r2.Header.Get("X-Request-Id")
		if id1 == "" || id2 == "" || id1 == id2 {
			t.Fatalf("request ids %q and %q: want two distinct non-empty ids (also on errors)", id1, id2)
		}
	})
	t.Run("Propagated", func(t *testing.T) {
		req := newReq(t, "GET", srv.URL+"/healthz", "", nil)
		req.Header.Set("X-Request-Id", "client-abc.123:x_y")
		resp, _ := do(t, req)
		if got, want := resp.Header.Get("X-Request-Id"), "client-abc.123:x_y"; got != want {
			t.Fatalf("X-Request-Id = %q, want %q", got, want)
		}
	})
	t.Run("InsaneReplaced", func(t *testing.T) {
		for _, bad := range []string{"has space", strings.Repeat("a", 129), "inject\"quote", "ünïcode"} {
			req := newReq(t, "GET", srv.URL+"/healthz", "", nil)
			req.Header.Set("X-Request-Id", bad)
			resp, _ := do(t, req)
			if got := resp.Header.Get("X-Request-Id"); got == bad || got == "" {
				t.Fatalf("X-Request-Id for %q = %q, want a generated id", bad, got)
			}
		}
	})
}

// TestReadyz: the body names each check on 200 and on 503 (the SPEC
// envelope plus "checks"), never shows a cause, says when shutdown has
// begun, and a change of state is logged once, not per probe.
func TestReadyz(t *testing.T) {
	t.Parallel()
	var dbErr, redisErr atomic.Pointer[error]
	check := func(p *atomic.Pointer[error]) func(context.Context) error {
		return func(context.Context) error {
			if e := p.Load(); e != nil {
				return *e
			}
			return nil
		}
	}
	var draining atomic.Bool
	srv, logs := newTestServer(t, httpapi.Options{
		ReadyChecks: []httpapi.ReadyCheck{{Name: "database", Check: check(&dbErr)}, {Name: "redis", Check: check(&redisErr)}},
		Draining:    draining.Load,
	})
	probe := func() (*http.Response, []byte) { return do(t, newReq(t, "GET", srv.URL+"/readyz", "", nil)) }
	resp, body := probe()
	if got, want := strings.TrimSpace(string(body)), `{"status":"ok","checks":{"database":"ok","redis":"ok"}}`; resp.StatusCode != 200 || got != want {
		t.Fatalf("readyz = %d %s, want 200 %s", resp.StatusCode, got, want)
	}
	e := error(errors.New("dial tcp 10.0.0.9:6379: connection refused"))
	redisErr.Store(&e)
	for range 3 {
		resp, body = probe()
	}
	if got, want := strings.TrimSpace(string(body)), `{"error":{"type":"unavailable_error","code":"not_ready","message":"not ready: redis unreachable","param":null},"checks":{"database":"ok","redis":"unreachable"}}`; resp.StatusCode != 503 || got != want {
		t.Fatalf("readyz = %d %s, want 503 %s", resp.StatusCode, got, want)
	}
	e2 := error(&httpapi.CheckError{State: "not_migrated", Err: errors.New("pending migrations")})
	dbErr.Store(&e2)
	_, body = probe()
	if got, want := strings.TrimSpace(string(body)), `{"error":{"type":"unavailable_error","code":"not_ready","message":"not ready: database not_migrated, redis unreachable","param":null},"checks":{"database":"not_migrated","redis":"unreachable"}}`; got != want {
		t.Fatalf("readyz = %s, want %s", got, want)
	}
	dbErr.Store(nil)
	redisErr.Store(nil)
	probe()
	probe()
	draining.Store(true)
	resp, body = probe()
	probe()
	if got, want := strings.TrimSpace(string(body)), `{"error":{"type":"unavailable_error","code":"not_ready","message":"not ready: the server is shutting down","param":null},"checks":{"database":"ok","redis":"ok"},"server":"shutting_down"}`; resp.StatusCode != 503 || got != want {
		t.Fatalf("readyz while draining = %d %s, want 503 %s", resp.StatusCode, got, want)
	}
	var msgs []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msgs = append(msgs, rec.Msg)
	}
	if got, want := strings.Join(msgs, "|"), "not ready|not ready|ready|not ready: shutting down"; got != want {
		t.Fatalf("readiness log = %q, want %q (one line per change)", got, want)
	}
	if !strings.Contains(logs.String(), `"redis":"dial tcp 10.0.0.9:6379: connection refused"`) {
		t.Fatalf("the failed check's cause is not logged: %s", logs.String())
	}
}

type fixedAuth struct {
	p   *gateway.Principal
	err error
}

func (f fixedAuth) Authenticate(*http.Request) (*gateway.Principal, error) {
	if f.err != nil {
		return nil, f.err
	}
	cp := *f.p
	return &cp, nil
}

func TestRoleChecks(t *testing.T) {
	t.Parallel()
	t.Run("InsufficientRole", func(t *testing.T) {
		srv, _ := newTestServer(t, httpapi.Options{Auth: fixedAuth{p: &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u", Role: gateway.RoleContributor}}})
		resp, body := do(t, newReq(t, "GET", srv.URL+"/test/admin", "", nil))
		wantError(t, resp, body, 403, "permission_error", "insufficient_role", nil)
		var env envelope
		_ = json.Unmarshal(body, &env)
		if got, want := env.Error.Message, "Requires admin role"; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		srv, _ := newTestServer(t, httpapi.Options{Auth: fixedAuth{err: gateway.E(gateway.KindUnauthenticated, "missing_authorization", "credential required")}})
		resp, body := do(t, newReq(t, "GET", srv.URL+"/test/admin", "", nil))
		wantError(t, resp, body, 401, "authentication_error", "missing_authorization", nil)
		if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="tollgate"`; got != want {
			t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
		}
	})
	t.Run("Rejected", func(t *testing.T) {
		srv, _ := newTestServer(t, httpapi.Options{Auth: fixedAuth{err: gateway.E(gateway.KindUnauthenticated, "invalid_authorization", "bad credential")}})
		resp, body := do(t, newReq(t, "GET", srv.URL+"/test/admin", "", nil))
		wantError(t, resp, body, 401, "authentication_error", "invalid_authorization", nil)
		if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="tollgate", error="invalid_token"`; got != want {
			t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
		}
	})
	t.Run("PublicRouteIgnoresAuth", func(t *testing.T) {
		srv, _ := newTestServer(t, httpapi.Options{Auth: fixedAuth{err: gateway.E(gateway.KindUnauthenticated, "missing_authorization", "credential required")}})
		resp, _ := do(t, newReq(t, "GET", srv.URL+"/healthz", "", nil))
		if resp.StatusCode != 200 {
			t.Fatalf("healthz = %d, want 200", resp.StatusCode)
		}
	})
}

func TestHandleRefusesUndeclaredAccess(t *testing.T) {
	t.Parallel()
	s := httpapi.New(httpapi.Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("Handle accepted a route without an access declaration")
		}
	}()
	s.Handle(httpapi.Route{Method: "GET", Path: "/x", Handler: func(http.ResponseWriter, *http.Request) error { return nil }})
}

func TestMetricsByRoutePattern(t *testing.T) {
	t.Parallel()
	srv, _ := newTestServer(t, httpapi.Options{})
	do(t, newReq(t, "GET", srv.URL+"/healthz", "", nil))
	do(t, newReq(t, "GET", srv.URL+"/no/such/secret-path", "", nil))
	_, body := do(t, newReq(t, "GET", srv.URL+"/metrics", "", nil))
	text := string(body)
	for _, want := range []string{
		`tollgate_http_requests_total{route="GET /healthz",status="200"} 1`,
		`tollgate_http_requests_total{route="unmatched",status="404"} 1`,
		`tollgate_http_request_duration_seconds_count{route="GET /healthz"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Fatalf("metrics lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "secret-path") {
		t.Fatal("metrics are labelled with a raw path")
	}
}

// TestHandleRefusesTrailingSlash: a subtree pattern would make ServeMux
// redirect /x to /x/ in plain text, so Handle refuses one.
func TestHandleRefusesTrailingSlash(t *testing.T) {
	s := httpapi.New(httpapi.Options{})
	defer func() {
		if recover() == nil {
			t.Fatal("Handle accepted a path ending in a slash")
		}
	}()
	s.Handle(httpapi.Route{Method: "GET", Path: "/x/", Access: httpapi.Public,
		Handler: func(http.ResponseWriter, *http.Request) error { return nil }})
}
