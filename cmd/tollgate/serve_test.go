package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// testConfig is the default config on a free loopback port and a temp dir.
// Unless environ names another database or a data dir that has one, the
// data dir starts with a migrated, empty database (see sqltest.SQLite).
func testConfig(t *testing.T, environ ...string) *config.Config {
	t.Helper()
	cfg := emptyDirConfig(t, environ...)
	db := filepath.Join(cfg.Server.DataDir, "tollgate.db")
	if _, err := os.Stat(db); cfg.Database.URL == "" && errors.Is(err, os.ErrNotExist) {
		sqltest.WriteMigratedSQLite(t, db)
	}
	return cfg
}

// emptyDirConfig is testConfig with an empty data dir: the server creates
// and migrates the database itself.
func emptyDirConfig(t *testing.T, environ ...string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	environ = append([]string{
		"TOLLGATE_SERVER_ADDR=127.0.0.1:0",
		"TOLLGATE_SERVER_DATA_DIR=" + dir,
	}, environ...)
	cfg, err := config.Load(config.Sources{File: filepath.Join(writeEmptyConfig(t, dir)), Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeEmptyConfig(t *testing.T, dir string) string {
	p := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServe runs runServe in the background and returns its base URL, a
// cancel function that triggers graceful shutdown, and its result channel.
func startServe(t *testing.T, cfg *config.Config, extra ...httpapi.Route) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	_, base, cancel, result := startServeApp(t, cfg, extra...)
	return base, cancel, result
}

// startServeApp is startServe that also returns the running app.
func startServeApp(t *testing.T, cfg *config.Config, extra ...httpapi.Route) (*app, string, context.CancelFunc, <-chan error) {
	t.Helper()
	return startServeAppWith(t, cfg, slog.New(slog.DiscardHandler), testDeps(nil), extra...)
}

// startServeAppWith is startServeApp with the app's logger and deps.
func startServeAppWith(t *testing.T, cfg *config.Config, log *slog.Logger, deps appDeps, extra ...httpapi.Route) (*app, string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, log, deps)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range extra {
		a.api.Handle(rt)
	}
	addrc := make(chan net.Addr, 1)
	result := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		err := runServe(ctx, a, addrc)
		result <- err
		close(finished)
	}()
	select {
	case addr := <-addrc:
		t.Cleanup(func() {
			cancel()
			<-finished
		})
		return a, "http://" + addr.String(), cancel, result
	case err := <-result:
		cancel()
		t.Fatalf("runServe: %v", err)
	}
	return nil, "", nil, nil
}

func TestServeDefaultsCreateSQLite(t *testing.T) {
	t.Parallel()
	cfg := emptyDirConfig(t)
	base, _, _ := startServe(t, cfg)
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz = %d, want 200", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(cfg.Server.DataDir, "tollgate.db")); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
}

func TestGracefulShutdownFinishesInFlightRequest(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slow := httpapi.Route{Method: "GET", Path: "/test/slow", Access: httpapi.Public, OperationID: "testSlow",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			close(entered)
			<-release
			return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"done": "yes"})
		}}
	base, cancel, done := startServe(t, cfg, slow)

	type result struct {
		status int
		body   string
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/test/slow")
		if err != nil {
			resc <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resc <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	cancel() // SIGINT/SIGTERM in production
	select {
	case err := <-done:
		t.Fatalf("server stopped with a request in flight: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	res := <-resc
	if res.err != nil || res.status != http.StatusOK || strings.TrimSpace(res.body) != `{"done":"yes"}` {
		t.Fatalf("in-flight request = %d %q, %v; want its 200 answer", res.status, res.body, res.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("runServe after shutdown = %v, want nil", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

func TestReadyzWhenDatabaseGone(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	st := sqltest.SQLite(t)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(st))
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPTest(t, a)
	if got := get(t, srv+"/readyz"); got != 200 {
		t.Fatalf("readyz = %d, want 200", got)
	}
	st.Close() // the database is gone
	resp, err := http.Get(srv + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("readyz = %d, want 503", resp.StatusCode)
	}
	var env struct {
		Error  struct{ Type, Code string } `json:"error"`
		Checks map[string]string           `json:"checks"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error.Type != "unavailable_error" || env.Error.Code != "not_ready" ||
		len(env.Checks) != 2 || env.Checks["database"] != "unreachable" || env.Checks["database_write"] != "ok" {
		// database_write is the last heartbeat's result (cached, not a
		// write per probe): it turns "failing" at the next heartbeat.
		t.Fatalf("body = %s, want unavailable_error/not_ready with checks {database: unreachable, database_write: ok}", body)
	}
	if got := get(t, srv+"/healthz"); got != 200 {
		t.Fatalf("healthz = %d, want 200 (the process is up)", got)
	}
}

func TestSlowHeaderClientIsCutOff(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "TOLLGATE_SERVER_READ_HEADER_TIMEOUT=300ms")
	base, _, _ := startServe(t, cfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")) // never finished
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept a connection with unfinished headers open (no ReadHeaderTimeout)")
	}
}

func TestEveryRouteDeclaresAccess(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(sqltest.SQLite(t)))
	if err != nil {
		t.Fatal(err)
	}
	routes := a.api.Routes()
	if len(routes) < 4 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	doc, err := a.api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var openapi struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc, &openapi); err != nil {
		t.Fatal(err)
	}
	if openapi.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", openapi.OpenAPI)
	}
	for _, rt := range routes {
		if !rt.Access.Declared() {
			t.Errorf("route %s declares neither public nor a minimum role", rt.Pattern())
		}
		op := openapi.Paths[rt.Path][strings.ToLower(rt.Method)]
		if op == nil {
			t.Errorf("route %s is missing from the OpenAPI document", rt.Pattern())
			continue
		}
		want := "public"
		if !rt.Access.Public {
			want = rt.Access.MinRole.String()
		}
		if got := op["x-tollgate-access"]; got != want {
			t.Errorf("route %s: x-tollgate-access = %v, want %q", rt.Pattern(), got, want)
		}
	}
}

func TestCLIConfigPrintAndVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCmd(env{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard,
			environ: func() []string {
				return []string{"TOLLGATE_SERVER_DATA_DIR=" + dir, "TOLLGATE_AUTH_JWT_SECRET=abcdefghijklmnopqrstuvwxyz0123456789"}
			}})
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("version")
	if err != nil || out != "tollgate "+version+"\n" {
		t.Fatalf("version = %q, %v", out, err)
	}
	out, err = run("config", "print", "--config", writeEmptyConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "abcdefghijklmnopqrstuvwxyz0123456789") || !strings.Contains(out, "jwt_secret = '[redacted]'") {
		t.Fatalf("config print does not redact the JWT secret:\n%s", out)
	}
	out, err = run("migrate", "--config", writeEmptyConfig(t, dir), "--database-url", "sqlite://"+filepath.Join(dir, "m.db"))
	if err != nil || !strings.Contains(out, "is migrated") {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "m.db")); err != nil {
		t.Fatalf("--database-url not honoured: %v", err)
	}
	_, err = run("config", "print", "--config", filepath.Join(dir, "missing.toml"))
	if err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("missing config file error = %v", err)
	}
}
