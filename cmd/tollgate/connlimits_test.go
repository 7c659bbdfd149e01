package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// testConfigTOML is testConfig with a config file holding toml.
func testConfigTOML(t *testing.T, toml string, environ ...string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(p, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	environ = append([]string{"TOLLGATE_SERVER_ADDR=127.0.0.1:0", "TOLLGATE_SERVER_DATA_DIR=" + dir}, environ...)
	cfg, err := config.Load(config.Sources{File: p, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rawRequest opens a connection to base and writes req as-is.
func rawRequest(t *testing.T, base, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// wantEnvelope reads one response from br and fails unless it is the SPEC
// envelope with status, type and code (param null), JSON and nosniff.
func wantEnvelope(t *testing.T, resp *http.Response, status int, typ, code string) {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Type, Code, Message string
			Param               *string
		}
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %q is not JSON", raw)
	}
	if resp.StatusCode != status || body.Error.Type != typ || body.Error.Code != code || body.Error.Param != nil || body.Error.Message == "" {
		t.Fatalf("answer %d %s, want %d %s/%s with param null", resp.StatusCode, raw, status, typ, code)
	}
	if ct, ns := resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"); ct != "application/json" || ns != "nosniff" {
		t.Fatalf("Content-Type %q, X-Content-Type-Options %q", ct, ns)
	}
}

// TestSlowBodyCutWhileStreamOutlivesReadTimeout: a client that sends part
// of a body and stalls gets 408 request_timeout in the envelope and the
// connection closed after server.read_timeout, while a stream that started
// earlier keeps going past the read timeout and ends normally.
func TestSlowBodyCutWhileStreamOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	step := make(chan struct{})
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"one", " two", " three"}, Step: step})
	cfg := testConfigTOML(t, upstreamConfig(t, up.URL), "TOLLGATE_SERVER_READ_TIMEOUT=300ms")
	base, _, _ := startServe(t, cfg)

	// The stream starts and delivers its first event, then waits on step.
	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream status = %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first stream line = %q, %v", line, err)
	}

	// A slow body that started after the stream is cut: so when it is, the
	// stream's request is older than the read timeout.
	c := rawRequest(t, base, "POST /api/auth/login HTTP/1.1\r\nHost: tollgate\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\n\r\n{\"email\":")
	_ = c.SetReadDeadline(time.Now().Add(time.Minute)) // a hang fails the test instead of stalling it
	cr := bufio.NewReader(c)
	slow, err := http.ReadResponse(cr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slow.Close { // Connection: close
		t.Fatal("408 without Connection: close")
	}
	if slow.Header.Get("X-Request-Id") == "" {
		t.Fatal("408 without X-Request-Id")
	}
	wantEnvelope(t, slow, http.StatusRequestTimeout, "invalid_request_error", "request_timeout")
	if n, err := cr.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("connection still open after the 408: %d, %v", n, err)
	}

	// The stream outlived the read timeout: release it and read to [DONE].
	close(step)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("stream broken after the read timeout: %v", err)
	}
	if !strings.Contains(string(rest), " three") || !strings.HasSuffix(strings.TrimSpace(string(rest)), "data: [DONE]") ||
		strings.Contains(string(rest), `"error"`) {
		t.Fatalf("stream tail = %q, want the remaining words and [DONE]", rest)
	}
}

// TestMaxConnectionsCap: with server.max_connections = 2 and two open
// connections, a third is not served until one of them closes.
func TestMaxConnectionsCap(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "TOLLGATE_SERVER_MAX_CONNECTIONS=2")
	base, _, _ := startServe(t, cfg)
	const get = "GET /healthz HTTP/1.1\r\nHost: tollgate\r\n\r\n"
	var held []net.Conn
	for range 2 {
		c := rawRequest(t, base, get)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v, %v", resp, err)
		}
		resp.Body.Close()
		held = append(held, c) // kept alive and idle
	}
	third := rawRequest(t, base, get)
	got := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(third), nil)
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	select {
	case s := <-got:
		t.Fatalf("third connection served (%d) while two were open", s)
	case <-time.After(300 * time.Millisecond): // it waits; it is not refused
	}
	held[0].Close()
	if s := <-got; s != 200 {
		t.Fatalf("third connection after one closed = %d, want 200", s)
	}
}

// TestUpstreamRedirectIs502: an upstream's 3xx is never followed (the
// request carries the upstream's credential) nor passed on: streamed or
// not, the client gets 502 upstream_error in the envelope.
func TestUpstreamRedirectIs502(t *testing.T) {
	t.Parallel()
	target := llmtest.NewT(t)
	redirect := llmtest.Reply{Status: http.StatusFound, Header: map[string]string{"Location": target.URL + "/chat/completions"}, Body: " "}
	up := llmtest.NewT(t, redirect, redirect)
	cfg := testConfigTOML(t, upstreamConfig(t, up.URL))
	base, _, _ := startServe(t, cfg)
	for _, stream := range []string{"false", "true"} {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"m","stream":`+stream+`,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		wantEnvelope(t, resp, http.StatusBadGateway, "upstream_error", "upstream_error")
	}
	if n, m := up.Count(), target.Count(); n != 2 || m != 0 {
		t.Fatalf("upstream requests = %d, redirect target requests = %d; want 2 and 0", n, m)
	}
}

// TestSecurityHeadersOnEveryAnswer: X-Content-Type-Options: nosniff on
// every response (also /metrics, /openapi.json and errors) and
// Cache-Control: no-store on every answer that carries a secret or a
// credential decision, success or error: every /api/auth/* and /api/setup
// route, and the key routes that return a key (create, rotate); no other
// answer gets it.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	tok := e.setup()
	k := &keyEnv{authEnv: e}
	key := k.createKey(tok, httpapi.CreateKeyRequest{Name: "headers"})
	keyPath := "/api/keys/" + key.ID
	for _, tc := range []struct {
		method, path, token string
		body                any
		status              int
		noStore             bool
	}{
		{"GET", "/metrics", "", nil, 200, false},
		{"GET", "/openapi.json", "", nil, 200, false},
		{"GET", "/healthz", "", nil, 200, false},
		{"GET", "/api/nowhere", "", nil, 404, false},
		{"GET", "/api/setup", "", nil, 200, true},
		{"GET", "/api/auth/status", "", nil, 200, true},
		{"GET", "/api/auth/me", tok, nil, 200, true},
		{"GET", "/api/auth/me", "", nil, 401, true},
		{"POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": "wrong password"}, 401, true},
		{"POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": adminPassword}, 200, true},
		{"POST", "/api/auth/token", key.Key, nil, 200, true},
		{"POST", "/api/keys", tok, map[string]string{"name": "another"}, 201, true},
		{"POST", "/api/keys", tok, map[string]string{}, 400, true},
		{"POST", "/api/keys", "", map[string]string{"name": "x"}, 401, true},
		{"POST", keyPath + "/rotate", tok, nil, 200, true},
		{"POST", "/api/keys/" + missingID + "/rotate", tok, nil, 404, true},
		{"GET", "/api/keys", tok, nil, 200, false},
		{"DELETE", keyPath, tok, nil, 204, false},
	} {
		var rd io.Reader
		if tc.body != nil {
			b, _ := json.Marshal(tc.body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest(tc.method, e.url+tc.path, rd)
		req.Header.Set("Content-Type", "application/json")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		r := reply{status: resp.StatusCode, header: resp.Header}
		if r.status != tc.status {
			t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, r.status, tc.status)
		}
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options = %q, want nosniff", tc.method, tc.path, got)
		}
		want := ""
		if tc.noStore {
			want = "no-store"
		}
		if got := r.header.Get("Cache-Control"); got != want {
			t.Errorf("%s %s: Cache-Control = %q, want %q", tc.method, tc.path, got, want)
		}
	}
}
