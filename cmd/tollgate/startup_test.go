package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testsvc"
)

// mainProcess is the real tollgate command running in a subprocess (see
// TestMain), with its stderr captured.
type mainProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	base   string
}

// startMain starts `tollgate serve` in a subprocess on a free port and
// waits until it answers /healthz.
func startMain(t *testing.T, args string, environ ...string) *mainProcess {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "TOLLGATE_TEST_AS_MAIN=1",
		"TOLLGATE_TEST_ARGS="+args+" --addr 127.0.0.1:"+port), environ...)
	p := &mainProcess{cmd: cmd, stderr: &syncBuffer{}, base: "http://127.0.0.1:" + port}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; ; i++ {
		if resp, err := http.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		if i == 1000 {
			t.Fatalf("server did not start: %s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM, waits for exit 0 and returns the JSON log records.
func (p *mainProcess) stop(t *testing.T) []map[string]any {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit = %v, want 0; stderr:\n%s", err, p.stderr.String())
	}
	var recs []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(p.stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stderr line is not a JSON record: %q", line)
		}
		recs = append(recs, rec)
	}
	return recs
}

func findRecord(recs []map[string]any, msgPrefix string) map[string]any {
	for _, r := range recs {
		if m, _ := r["msg"].(string); strings.HasPrefix(m, msgPrefix) {
			return r
		}
	}
	return nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestStartupSummary runs the real command and checks the start-up
// summary fields, the open-auth warning and the unknown-variable warning
// (TOLLGATE_TEST_* excluded), all as JSON records on stderr.
func TestStartupSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(cfgFile, []byte(`
[[providers]]
name = "up"
type = "openai"
base_url = "http://user:upsecret@127.0.0.1:9/v1"

[[models]]
name = "m"
provider = "up"
upstream_model = "llama"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startMain(t, "serve --config "+cfgFile, "TOLLGATE_SERVER_DATA_DIR="+dir, "TOLLGATE_LOG_FORMAT=json",
		"TOLLGATE_SERVER_ADR=typo", "TOLLGATE_TEST_SOMETHING=1")
	recs := p.stop(t)
	started := findRecord(recs, "tollgate started")
	if started == nil {
		t.Fatalf("no \"tollgate started\" record in:\n%s", p.stderr.String())
	}
	want := map[string]string{
		"level":       `"INFO"`,
		"url":         `"` + p.base + `/"`,
		"auth":        `{"configured":"auto","mode":"open"}`,
		"database":    `{"engine":"sqlite","path":"` + dir + `/tollgate.db"}`,
		"models":      `"m→up/llama"`,
		"providers":   `"up (openai http://user:redacted@127.0.0.1:9/v1)"`,
		"rate_limit":  `{"backend":"memory"}`,
		"config_file": `"` + cfgFile + `"`,
		"access_log":  `true`,
	}
	for k, w := range want {
		if got := jsonString(started[k]); got != w {
			t.Errorf("started.%s = %s, want %s", k, got, w)
		}
	}
	open := findRecord(recs, "authentication is off")
	if open == nil || open["level"] != "WARN" {
		t.Errorf("open-auth warning = %v, want a WARN record", open)
	}
	var unknown []string
	for _, r := range recs {
		if m, _ := r["msg"].(string); strings.HasPrefix(m, "unknown environment variable") {
			unknown = append(unknown, r["level"].(string)+" "+r["name"].(string))
		}
	}
	if got, want := strings.Join(unknown, ","), "WARN TOLLGATE_SERVER_ADR"; got != want {
		t.Errorf("unknown variable warnings = %q, want %q", got, want)
	}
	if strings.Contains(p.stderr.String(), "upsecret") {
		t.Errorf("logs leak the provider's password:\n%s", p.stderr.String())
	}
}

// TestStartupSummaryText: the summary in log.format = text, no config
// file, and a Redis that does not answer (reported, not fatal).
func TestStartupSummaryText(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "TOLLGATE_RATE_LIMIT_BACKEND=redis", "TOLLGATE_REDIS_URL=redis://:redispw@127.0.0.1:1/0")
	cfg.File = ""
	var logs syncBuffer
	a, err := newApp(context.Background(), cfg, newLogger(&logs, cfg), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close(context.Background())
	a.logStartup(context.Background(), &net.TCPAddr{IP: net.IPv4zero, Port: 8080})
	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="tollgate started" url=http://127.0.0.1:8080/ `,
		` auth.mode=open auth.configured=auto `,
		` database.engine=sqlite database.path=` + cfg.Server.DataDir + `/tollgate.db `,
		` models="echo→echo (built in)" providers="echo (echo)" `,
		` rate_limit.backend=redis rate_limit.redis="unreachable (limits fall back to this instance's memory until it answers)" `,
		` config_file="none, defaults (and TOLLGATE_* environment)" `,
		`level=WARN msg="redis is unreachable at start-up"`,
		`level=WARN msg="authentication is off: anyone who can connect to 0.0.0.0:8080 acts as admin;`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "redispw") {
		t.Errorf("summary leaks the Redis password:\n%s", out)
	}
}

// TestStartupSummaryRedisReachable: with a real Redis the summary says so.
func TestStartupSummaryRedisReachable(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "TOLLGATE_RATE_LIMIT_BACKEND=redis", "TOLLGATE_REDIS_URL="+testsvc.RedisURL(t),
		"TOLLGATE_REDIS_KEY_PREFIX="+testsvc.UniqueName("tgtest:"))
	var logs syncBuffer
	a, err := newApp(context.Background(), cfg, newLogger(&logs, cfg), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close(context.Background())
	a.logStartup(context.Background(), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080})
	if want := ` rate_limit.backend=redis rate_limit.redis=reachable `; !strings.Contains(logs.String(), want) {
		t.Fatalf("summary lacks %q:\n%s", want, logs.String())
	}
}

func TestDatabaseAttrsNeverShowCredentials(t *testing.T) {
	t.Parallel()
	got := jsonString(databaseAttrs("postgres", "postgres://app:pgsecret@db.internal:5432/tollgate?sslmode=require"))
	if want := `["engine","postgres","host","db.internal:5432","name","tollgate"]`; got != want {
		t.Fatalf("databaseAttrs = %s, want %s", got, want)
	}
}

// TestRedisLogsGoThroughSlog: go-redis's logger adapter writes a
// structured warning instead of a bare stderr line.
func TestRedisLogsGoThroughSlog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	slogRedis{log: slog.New(slog.NewJSONHandler(&buf, nil))}.Printf(context.Background(), "redis: %s: connection pool: %v", "pool.go:123", errors.New("dial failed"))
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not a JSON record: %q", buf.String())
	}
	if rec["level"] != "WARN" || rec["component"] != "redis" || rec["msg"] != "redis: pool.go:123: connection pool: dial failed" {
		t.Fatalf("record = %v", rec)
	}
}
