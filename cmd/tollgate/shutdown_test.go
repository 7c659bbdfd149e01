package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// sseEvent is one server-sent event: its type ("" for a bare data frame)
// and data.
type sseEvent struct{ typ, data string }

// nextEvent reads one event; ok is false at the end of the stream.
func nextEvent(t *testing.T, br *bufio.Reader) (ev sseEvent, ok bool) {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return ev, false
		}
		if err != nil && err != io.EOF {
			t.Fatalf("reading stream: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && ev.data != "":
			return ev, true
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
		if err == io.EOF {
			return ev, ev.data != ""
		}
	}
}

func errorCode(t *testing.T, data string) (typ, code string) {
	t.Helper()
	var env struct{ Error struct{ Type, Code string } }
	if err := json.Unmarshal([]byte(data), &env); err != nil {
		t.Fatalf("error frame %q: %v", data, err)
	}
	return env.Error.Type, env.Error.Code
}

// TestShutdownCutsRequestsWithoutLosingData: SIGTERM (the serve context
// ending) with a short server.shutdown_timeout while a /v1 stream, a
// conversation stream and a non-streamed /v1 call wait on their upstream.
// At the deadline each gets server_shutting_down (an SSE error frame, or
// the 503 envelope), the partial conversation reply is stored as
// incomplete with the text that reached the client, a usage record is
// written for all three (status incomplete), and runServe returns nil
// (exit 0).
func TestShutdownCutsRequestsWithoutLosingData(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t,
		llmtest.Reply{Words: []string{"one", " two", " three"}, HangAfter: 3},
		llmtest.Reply{Words: []string{"alpha", " beta", " gamma"}, HangAfter: 3},
		llmtest.Reply{Hang: true})
	cfg := testConfigTOML(t, upstreamConfig(t, up.URL), "TOLLGATE_SERVER_SHUTDOWN_TIMEOUT=300ms")
	base, stop, result := startServe(t, cfg)

	// 1. A /v1 stream that has delivered its role chunk and two words.
	v1, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer v1.Body.Close()
	v1r := bufio.NewReader(v1.Body)
	for range 3 {
		if _, ok := nextEvent(t, v1r); !ok {
			t.Fatal("/v1 stream ended early")
		}
	}
	// 2. A conversation stream that has delivered two deltas.
	conv := call(t, "POST", base+"/api/conversations", `{"title":"drain","model":"m"}`)
	convID, _ := conv.body["id"].(string)
	cs, err := http.Post(base+"/api/conversations/"+convID+"/messages", "application/json",
		strings.NewReader(`{"content":"hello","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Body.Close()
	csr := bufio.NewReader(cs.Body)
	var partial string
	for deltas := 0; deltas < 2; {
		ev, ok := nextEvent(t, csr)
		if !ok {
			t.Fatal("conversation stream ended early")
		}
		if ev.typ == "message.delta" {
			var d struct{ Delta string }
			_ = json.Unmarshal([]byte(ev.data), &d)
			partial += d.Delta
			deltas++
		}
	}
	// 3. A non-streamed call whose upstream has not answered.
	whole := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Error(err)
			close(whole)
			return
		}
		whole <- resp
	}()
	for up.Count() < 3 {
		time.Sleep(5 * time.Millisecond)
	}

	stop() // SIGTERM

	// The /v1 stream ends with one server_shutting_down frame, no [DONE].
	var tail []sseEvent
	for ev, ok := nextEvent(t, v1r); ok; ev, ok = nextEvent(t, v1r) {
		tail = append(tail, ev)
	}
	if len(tail) != 1 {
		t.Fatalf("/v1 stream after shutdown = %+v, want one error frame", tail)
	}
	if typ, code := errorCode(t, tail[0].data); typ != "unavailable_error" || code != "server_shutting_down" {
		t.Fatalf("/v1 error frame = %s/%s, want unavailable_error/server_shutting_down", typ, code)
	}
	// The conversation stream gets error then message.done (incomplete,
	// with the text the client saw).
	var types []string
	var done struct{ Status, Content string }
	for ev, ok := nextEvent(t, csr); ok; ev, ok = nextEvent(t, csr) {
		types = append(types, ev.typ)
		switch ev.typ {
		case "error":
			if typ, code := errorCode(t, ev.data); typ != "unavailable_error" || code != "server_shutting_down" {
				t.Fatalf("conversation error = %s/%s", typ, code)
			}
		case "message.done":
			_ = json.Unmarshal([]byte(ev.data), &done)
		}
	}
	if !slices.Equal(types, []string{"error", "message.done"}) {
		t.Fatalf("conversation events after shutdown = %v, want [error message.done]", types)
	}
	if done.Status != "incomplete" || done.Content != partial || partial != "alpha beta" {
		t.Fatalf("stored reply = %+v, want incomplete %q", done, partial)
	}
	// The non-streamed call is answered 503 server_shutting_down.
	resp := <-whole
	if resp == nil {
		t.FailNow()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("non-streamed answer = %d (Retry-After %q) %s, want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if typ, code := errorCode(t, string(body)); typ != "unavailable_error" || code != "server_shutting_down" {
		t.Fatalf("non-streamed error = %s/%s", typ, code)
	}
	if err := <-result; err != nil {
		t.Fatalf("runServe = %v, want nil (exit 0)", err)
	}

	// After exit: three usage records, all incomplete with the code, and
	// the stored assistant message as the stream showed it.
	db, err := sql.Open("sqlite", strings.TrimPrefix(cfg.DatabaseURL(), "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT status, error_code FROM usage_records ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var status, code string
		if err := rows.Scan(&status, &code); err != nil {
			t.Fatal(err)
		}
		got = append(got, status+"/"+code)
	}
	want := []string{"incomplete/server_shutting_down", "incomplete/server_shutting_down", "incomplete/server_shutting_down"}
	if !slices.Equal(got, want) {
		t.Fatalf("usage records = %v, want %v", got, want)
	}
	var status, content string
	if err := db.QueryRow(`SELECT status, content FROM messages WHERE role = 'assistant'`).Scan(&status, &content); err != nil {
		t.Fatal(err)
	}
	if status != "incomplete" || content != "alpha beta" {
		t.Fatalf("stored assistant message = %s %q, want incomplete %q", status, content, "alpha beta")
	}
}

// TestReadinessDrainsBeforeTheListenerCloses: with server.shutdown_delay
// the listener stays open after SIGTERM while /readyz answers 503, so a
// load balancer stops sending traffic before connections are refused.
func TestReadinessDrainsBeforeTheListenerCloses(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "TOLLGATE_SERVER_SHUTDOWN_DELAY=2s")
	base, stop, result := startServe(t, cfg)
	if got := get(t, base+"/readyz"); got != 200 {
		t.Fatalf("readyz before shutdown = %d, want 200", got)
	}
	stop()
	deadline := time.Now().Add(1500 * time.Millisecond)
	var r apiResult
	for time.Now().Before(deadline) {
		if r = call(t, "GET", base+"/readyz", ""); r.status == 503 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if typ, code, _ := errCode(r); r.status != 503 || typ != "unavailable_error" || code != "not_ready" {
		t.Fatalf("readyz during the shutdown delay = %d %s/%s, want 503 unavailable_error/not_ready", r.status, typ, code)
	}
	if got, want := fmt.Sprintf("%v %v", r.body["server"], r.body["checks"]), "shutting_down map[database:ok database_write:ok]"; got != want {
		t.Fatalf("readyz during the shutdown delay: server, checks = %s, want %s", got, want)
	}
	if got := get(t, base+"/healthz"); got != 200 {
		t.Fatalf("healthz during the shutdown delay = %d, want 200 (still serving)", got)
	}
	if err := <-result; err != nil {
		t.Fatalf("runServe = %v, want nil", err)
	}
}

// TestMain lets a test run this binary as the real tollgate command: with
// TOLLGATE_TEST_AS_MAIN=1 the test binary is main (signals, exit code and
// all) instead of the test runner.
func TestMain(m *testing.M) {
	if os.Getenv("TOLLGATE_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"tollgate"}, strings.Fields(os.Getenv("TOLLGATE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	closeBrowser()
	os.Exit(code)
}

// TestSIGTERMExitsZero runs the real command in its own process, sends it
// SIGTERM while a stream waits on its upstream, and checks what an
// operator sees: the stream's server_shutting_down frame, a structured
// "stopped" log line and exit status 0.
func TestSIGTERMExitsZero(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"one", " two"}, HangAfter: 2})
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(cfgFile, []byte(upstreamConfig(t, up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TOLLGATE_TEST_AS_MAIN=1",
		"TOLLGATE_TEST_ARGS=serve --config "+cfgFile+" --addr 127.0.0.1:"+port,
		"TOLLGATE_SERVER_DATA_DIR="+dir, "TOLLGATE_SERVER_SHUTDOWN_TIMEOUT=300ms", "TOLLGATE_LOG_FORMAT=json")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + port
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 500 {
			_ = cmd.Process.Kill()
			t.Fatalf("server did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for range 2 {
		if _, ok := nextEvent(t, br); !ok {
			t.Fatal("stream ended early")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ev, ok := nextEvent(t, br)
	if !ok {
		t.Fatal("stream ended without an error frame")
	}
	if typ, code := errorCode(t, ev.data); typ != "unavailable_error" || code != "server_shutting_down" {
		t.Fatalf("frame after SIGTERM = %s/%s", typ, code)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tollgate exited with %v, want status 0; stderr:\n%s", err, stderr.String())
	}
	var stopped bool
	for line := range strings.SplitSeq(stderr.String(), "\n") {
		var rec struct {
			Msg         string `json:"msg"`
			CutRequests *bool  `json:"cut_requests"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "stopped" && rec.CutRequests != nil && *rec.CutRequests {
			stopped = true
		}
	}
	if !stopped {
		t.Fatalf("no structured \"stopped\" line with cut_requests=true in:\n%s", stderr.String())
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
