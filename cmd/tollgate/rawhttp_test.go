package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readRaw reads one response from the connection of rawRequest.
func readRaw(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp
}

// wantClosed fails unless the server closed the connection after its answer.
func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("connection still open after the answer: %d, %v", n, err)
	}
}

// TestNetHTTPAnswersAreEnvelopes: the answers net/http writes itself before
// any handler runs (malformed request, 431, 501, 505, 417) reach the client
// as the SPEC envelope with X-Request-Id, and the connection is closed.
func TestNetHTTPAnswersAreEnvelopes(t *testing.T) {
	cfg := testConfig(t)
	base, _, _ := startServe(t, cfg)
	for _, tc := range []struct {
		name, req string
		status    int
		code, msg string
	}{
		{"MalformedRequestLine", "GARBAGE\r\n\r\n", 400, "malformed_request", "malformed HTTP request"},
		{"MalformedHeader", "GET /healthz HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", 400, "malformed_request",
			"malformed HTTP request"},
		{"MissingHost", "GET /healthz HTTP/1.1\r\n\r\n", 400, "malformed_request",
			"malformed HTTP request: missing required Host header"},
		{"HeadersTooLarge", "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n",
			431, "headers_too_large", "the request headers are larger than the server accepts"},
		{"HTTPVersion", "GET /healthz HTTP/3.0\r\nHost: t\r\n\r\n", 505, "http_version_not_supported",
			"unsupported HTTP version; use HTTP/1.1"},
		{"TransferEncoding", "POST /api/auth/login HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
			"unsupported_transfer_encoding", "unsupported Transfer-Encoding"},
		{"Expect", "GET /healthz HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 417, "expectation_failed",
			"only Expect: 100-continue is supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rawRequest(t, base, tc.req)
			_ = c.SetReadDeadline(time.Now().Add(time.Minute)) // a hang fails instead of stalling
			br := bufio.NewReader(c)
			resp := readRaw(t, br)
			if !resp.Close {
				t.Error("answer without Connection: close")
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("answer without X-Request-Id")
			}
			wantEnvelopeMessage(t, resp, tc.status, "invalid_request_error", tc.code, tc.msg)
			wantClosed(t, br)
		})
	}
}

// wantEnvelopeMessage is wantEnvelope that also checks the message.
func wantEnvelopeMessage(t *testing.T, resp *http.Response, status int, typ, code, msg string) {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	var body struct{ Error struct{ Message string } }
	_ = json.Unmarshal(raw, &body)
	resp.Body = io.NopCloser(strings.NewReader(string(raw)))
	wantEnvelope(t, resp, status, typ, code)
	if body.Error.Message != msg {
		t.Fatalf("message = %q, want %q", body.Error.Message, msg)
	}
}

// TestNetHTTPAnswerAfterKeepAlive: on a kept-alive connection, a handler's
// answer passes untouched and a malformed second request gets the envelope.
func TestNetHTTPAnswerAfterKeepAlive(t *testing.T) {
	cfg := testConfig(t)
	base, _, _ := startServe(t, cfg)
	c := rawRequest(t, base, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	ok := readRaw(t, br)
	raw, _ := io.ReadAll(ok.Body)
	if ok.StatusCode != 200 || strings.TrimSpace(string(raw)) != `{"status":"ok"}` || ok.Close {
		t.Fatalf("first answer = %d %q (close %v), want 200 ok kept alive", ok.StatusCode, raw, ok.Close)
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	wantEnvelopeMessage(t, readRaw(t, br), 400, "invalid_request_error", "malformed_request",
		"malformed HTTP request")
	wantClosed(t, br)
}

// TestUncleanPathsAreNotFound: ServeMux would redirect a path with empty,
// . or .. segments (and CONNECT requests get no route); Tollgate answers
// 404 not_found in the envelope and never redirects.
func TestUncleanPathsAreNotFound(t *testing.T) {
	cfg := testConfig(t)
	base, _, _ := startServe(t, cfg)
	for _, target := range []string{
		"GET //api/auth/me", "GET /v1/../api/x", "GET /api/./keys", "GET /api/keys/", "POST //api/auth/login",
		"GET /healthz/..", "GET *", "CONNECT tollgate:443",
	} {
		t.Run(target, func(t *testing.T) {
			c := rawRequest(t, base, target+" HTTP/1.1\r\nHost: t\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			resp := readRaw(t, bufio.NewReader(c))
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("Location = %q, want none", loc)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("answer without X-Request-Id")
			}
			wantEnvelope(t, resp, http.StatusNotFound, "not_found_error", "not_found")
		})
	}
}
