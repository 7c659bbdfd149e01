package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// proc is the real tollgate command running in its own process (this
// test binary re-executed as main, see TestMain).
type proc struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	exited chan struct{}
}

// startProc runs `tollgate serve --config cfgFile` with environ and
// waits until /healthz answers (not /readyz: a degraded start is not
// ready).
func startProc(t *testing.T, cfgFile string, environ ...string) *proc {
	t.Helper()
	port := freePort(t)
	p := &proc{base: "http://127.0.0.1:" + port, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(append(os.Environ(), "TOLLGATE_TEST_AS_MAIN=1", "TOLLGATE_TEST_ARGS=serve --config "+cfgFile+" --addr 127.0.0.1:"+port,
		"TOLLGATE_LOG_FORMAT=json"), environ...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill() })
	for i := 0; ; i++ {
		if resp, err := http.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("tollgate exited at start-up: %s", p.stderr.String())
		default:
		}
		if i == 1000 {
			t.Fatalf("tollgate did not start: %s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// call sends one JSON request and returns the status and body.
func (p *proc) call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type storedMessage struct {
	ID      string `json:"id"`
	Role    string `json:"role"`
	Status  string `json:"status"`
	Content string `json:"content"`
}

// assistant is the stored assistant message of conversation conv.
func (p *proc) assistant(t *testing.T, conv string) storedMessage {
	t.Helper()
	status, b := p.call(t, "GET", "/api/conversations/"+conv+"/messages", "")
	var list struct{ Data []storedMessage }
	if status != 200 || json.Unmarshal(b, &list) != nil {
		t.Fatalf("list messages = %d %s", status, b)
	}
	for _, m := range list.Data {
		if m.Role == "assistant" {
			return m
		}
	}
	t.Fatalf("no assistant message in %s", b)
	return storedMessage{}
}

func (p *proc) createConversation(t *testing.T) string {
	t.Helper()
	status, b := p.call(t, "POST", "/api/conversations", `{"model":"m"}`)
	var c struct{ ID string }
	if status != 201 || json.Unmarshal(b, &c) != nil {
		t.Fatalf("create conversation = %d %s", status, b)
	}
	return c.ID
}

// postStream posts a streamed message and returns the stream's reader.
func (p *proc) postStream(t *testing.T, conv string) (*bufio.Reader, func()) {
	t.Helper()
	resp, err := http.Post(p.base+"/api/conversations/"+conv+"/messages", "application/json",
		strings.NewReader(`{"content":"count slowly","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("post = %d %s", resp.StatusCode, b)
	}
	return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
}

func countWords(n int) []string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d ", i)
	}
	return w
}

// faultEngines runs fn on SQLite and on PostgreSQL: environ gives the
// database (a file under dir, or a private schema).
func faultEngines(t *testing.T, up llmtest.Reply, fn func(t *testing.T, cfgFile string, environ []string)) {
	for name, db := range map[string]func(t *testing.T, dir string) string{
		"SQLite":   func(t *testing.T, dir string) string { return "sqlite://" + filepath.Join(dir, "tollgate.db") },
		"Postgres": func(t *testing.T, dir string) string { return sqltest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "tollgate.toml")
			srv := llmtest.NewT(t, up)
			if err := os.WriteFile(cfgFile, []byte(upstreamConfig(t, srv.URL)), 0o600); err != nil {
				t.Fatal(err)
			}
			fn(t, cfgFile, []string{"TOLLGATE_SERVER_DATA_DIR=" + dir, "TOLLGATE_DATABASE_URL=" + db(t, dir)})
		})
	}
}

// TestSIGKILLMidStreamKeepsCheckpoint: the real process is SIGKILLed
// while a conversation reply streams. After a restart (and, on
// PostgreSQL, once the dead instance's lease expired and a sweep ran) the
// message is incomplete and holds at least the text the client had
// received a second before the kill (checkpoints every 500 ms), and
// nothing the client did not receive.
func TestSIGKILLMidStreamKeepsCheckpoint(t *testing.T) {
	t.Parallel()
	faultEngines(t, llmtest.Reply{Words: countWords(400), Gap: 50 * time.Millisecond}, func(t *testing.T, cfgFile string, environ []string) {
		environ = append(environ, "TOLLGATE_STREAM_CHECKPOINT_INTERVAL=500ms",
			"TOLLGATE_DATABASE_HEARTBEAT_INTERVAL=200ms", "TOLLGATE_DATABASE_LEASE_TIMEOUT=1s")
		p := startProc(t, cfgFile, environ...)
		conv := p.createConversation(t)
		br, closeStream := p.postStream(t, conv)
		defer closeStream()
		type received struct {
			at   time.Time
			text string
		}
		var got []received
		var text strings.Builder
		start := time.Now()
		for time.Since(start) < 3*time.Second {
			ev, ok := nextEvent(t, br)
			if !ok {
				t.Fatalf("stream ended early; log:\n%s", p.stderr.String())
			}
			if ev.typ != "message.delta" {
				continue
			}
			var d struct{ Delta string }
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				t.Fatal(err)
			}
			text.WriteString(d.Delta)
			got = append(got, received{time.Now(), text.String()})
		}
		p.kill()
		killed := time.Now()
		var before string // what the client had a second before the kill
		for _, r := range got {
			if r.at.Before(killed.Add(-time.Second)) {
				before = r.text
			}
		}
		if len(before) < 20 {
			t.Fatalf("only %q received a second before the kill", before)
		}

		p2 := startProc(t, cfgFile, environ...)
		var m storedMessage
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if m = p2.assistant(t, conv); m.Status != "pending" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still pending 20 s after the restart: %+v; log:\n%s", m, p2.stderr.String())
			}
		}
		if m.Status != "incomplete" {
			t.Fatalf("status = %q, want incomplete", m.Status)
		}
		if !strings.HasPrefix(m.Content, before) || !strings.HasPrefix(text.String(), m.Content) {
			t.Fatalf("stored %q;\nwant at least %q (received a second before the kill) and at most %q (received)", m.Content, before, text.String())
		}
	})
}

// TestRestartReadOnlySQLite: a restart on a SQLite file that cannot be
// written (immutable: chattr +i, which binds root too) starts instead of
// exiting, answers reads, and /readyz answers 503 not_ready naming the
// database write check, while the database itself is reachable.
func TestRestartReadOnlySQLite(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("SKIP: chattr not found")
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tollgate.toml")
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"stored", " before"}})
	if err := os.WriteFile(cfgFile, []byte(upstreamConfig(t, up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "tollgate.db")
	environ := []string{"TOLLGATE_SERVER_DATA_DIR=" + dir, "TOLLGATE_DATABASE_URL=sqlite://" + db, "TOLLGATE_DATABASE_HEARTBEAT_INTERVAL=200ms"}
	p := startProc(t, cfgFile, environ...)
	conv := p.createConversation(t)
	if status, b := p.call(t, "POST", "/api/conversations/"+conv+"/messages", `{"content":"hi"}`); status != 201 {
		t.Fatalf("post = %d %s", status, b)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if out, err := exec.Command("chattr", "+i", db).CombinedOutput(); err != nil {
		t.Skipf("SKIP: chattr +i: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", db).Run() })

	p2 := startProc(t, cfgFile, environ...)
	if status, b := p2.call(t, "GET", "/api/conversations/"+conv, ""); status != 200 {
		t.Fatalf("GET conversation = %d %s", status, b)
	}
	if m := p2.assistant(t, conv); m.Status != "complete" || m.Content != "stored before" {
		t.Fatalf("stored reply = %+v", m)
	}
	status, b := p2.call(t, "GET", "/readyz", "")
	var env struct {
		Error  struct{ Type, Code, Message string } `json:"error"`
		Checks map[string]string                    `json:"checks"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	if status != 503 || env.Error.Type != "unavailable_error" || env.Error.Code != "not_ready" ||
		env.Error.Message != "not ready: database_write failing" ||
		len(env.Checks) != 2 || env.Checks["database"] != "ok" || env.Checks["database_write"] != "failing" {
		t.Fatalf("readyz = %d %s, want 503 not_ready with checks {database: ok, database_write: failing}", status, b)
	}
	if !strings.Contains(p2.stderr.String(), `"msg":"database does not accept writes: not ready; serving reads and retrying every heartbeat"`) {
		t.Fatalf("no log line saying why it is not ready:\n%s", p2.stderr.String())
	}
}

// TestFinalWriteWaitsForPostgres: PostgreSQL (a throwaway cluster) is
// stopped while a conversation reply streams and started again 2 s
// later, within stream.finish_retry: the stream still ends with
// message.done, and the whole text is stored as complete.
func TestFinalWriteWaitsForPostgres(t *testing.T) {
	t.Parallel()
	pg := testsvc.StartPGCluster(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tollgate.toml")
	step := make(chan struct{})
	words := countWords(6)
	up := llmtest.NewT(t, llmtest.Reply{Words: words, Step: step})
	if err := os.WriteFile(cfgFile, []byte(upstreamConfig(t, up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, cfgFile, "TOLLGATE_SERVER_DATA_DIR="+dir, "TOLLGATE_DATABASE_URL="+pg.URL(),
		"TOLLGATE_STREAM_FINISH_RETRY=30s", "TOLLGATE_STREAM_CHECKPOINT_INTERVAL=100ms")
	conv := p.createConversation(t)
	br, closeStream := p.postStream(t, conv)
	defer closeStream()
	var text strings.Builder
	next := func() sseEvent {
		t.Helper()
		ev, ok := nextEvent(t, br)
		if !ok {
			t.Fatalf("stream ended early; log:\n%s", p.stderr.String())
		}
		return ev
	}
	for range 2 { // the word, then the stop
		step <- struct{}{}
	}
	for text.Len() < len(words[0]) {
		if ev := next(); ev.typ == "message.delta" {
			var d struct{ Delta string }
			_ = json.Unmarshal([]byte(ev.data), &d)
			text.WriteString(d.Delta)
		}
	}
	pg.Stop()
	close(step) // the rest of the reply streams while the database is down
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(2 * time.Second)
		pg.Start()
	}()
	var done sseEvent
	for {
		ev := next()
		if ev.typ == "message.delta" {
			var d struct{ Delta string }
			_ = json.Unmarshal([]byte(ev.data), &d)
			text.WriteString(d.Delta)
			continue
		}
		if ev.typ == "message.done" || ev.typ == "error" {
			done = ev
			break
		}
	}
	<-restarted
	want := strings.Join(words, "")
	var m storedMessage
	if err := json.Unmarshal([]byte(done.data), &m); err != nil || done.typ != "message.done" || m.Status != "complete" || m.Content != want {
		t.Fatalf("last event %s %s, want message.done complete %q; log:\n%s", done.typ, done.data, want, p.stderr.String())
	}
	if text.String() != want {
		t.Fatalf("client received %q, want %q", text.String(), want)
	}
	if got := p.assistant(t, conv); got.Status != "complete" || got.Content != want {
		t.Fatalf("stored = %+v, want complete %q", got, want)
	}
}
