package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
)

const staticTOML = `
[[auth.static_tokens]]
name = "frontend"
token_env = "TG_TEST_FRONTEND_TOKEN"
role = "contributor"
end_user_mode = true
`

// staticConfig writes a config file with toml and loads it as testConfig
// does.
func staticConfig(t *testing.T, toml string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{File: path, Environ: []string{"TOLLGATE_SERVER_ADDR=127.0.0.1:0", "TOLLGATE_SERVER_DATA_DIR=" + dir}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	const secret = "frontend-secret-0123456789"
	cfg, _ := staticConfig(t, staticTOML)
	logs := &syncBuffer{}
	deps := testDeps(nil)
	deps.getenv = mapEnv(map[string]string{"TG_TEST_FRONTEND_TOKEN": secret})
	e := startAuthEnv(t, cfg, slog.New(slog.NewTextHandler(logs, nil)), logs, deps)

	// A configured static token makes auto mode required even without users.
	if st := e.do("GET", "/api/auth/status", "", nil); st.body["mode"] != "required" {
		t.Fatalf("status = %s", st.raw)
	}
	wantCode(t, errOf(e.client("").Me(t.Context())), 401, "missing_authorization", "")
	want := map[string]any{"id": "static:frontend", "display_name": "frontend", "role": "contributor", "static_token": true}
	for _, hdr := range [][]string{{"Authorization", "Bearer " + secret}, {"authorization", "BEARER " + secret}, {"X-API-Key", secret}} {
		me := e.do("GET", "/api/auth/me", "", nil, hdr...)
		wantStatus(t, me, 200)
		if !reflect.DeepEqual(me.body, want) {
			t.Fatalf("me via %s = %s", hdr[0], me.raw)
		}
	}
	me := e.do("GET", "/api/auth/me", secret, nil, "X-End-User-Id", "u1")
	if me.body["end_user_id"] != "u1" {
		t.Fatalf("me with end user = %s", me.raw)
	}
	wantCode(t, errOf(e.client(secret+"x").Me(t.Context())), 401, "invalid_authorization", "")
	wantError(t, e.do("GET", "/api/auth/me", secret[:len(secret)-1], nil), 401, "invalid_authorization", "")
	wantError(t, e.do("GET", "/api/usage", secret, nil), 400, "missing_field", "headers.x-end-user-id")
	// An app credential acts only for its end users: a route that is
	// neither user scoped nor declared safe for app credentials refuses it.
	wantError(t, e.do("POST", "/test/contribute", secret, nil, "X-End-User-Id", "u1"), 403, "insufficient_role", "")
	// Static tokens own no keys.
	wantError(t, e.do("POST", "/api/keys", secret, map[string]any{"name": "x"}), 403, "insufficient_role", "")

	// Exchange: the JWT acts as the static token.
	tok := e.do("POST", "/api/auth/token", secret, nil)
	wantStatus(t, tok, 200)
	jwt := tok.body["access_token"].(string)
	if me := e.do("GET", "/api/auth/me", jwt, nil); !reflect.DeepEqual(me.body, want) {
		t.Fatalf("me via exchanged JWT = %s", me.raw)
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatal("logs contain the static token")
	}
}

func TestStaticTokenMissingEnvRefusesStart(t *testing.T) {
	t.Parallel()
	cfg, _ := staticConfig(t, strings.Replace(staticTOML, "TG_TEST_FRONTEND_TOKEN", "TG_TEST_UNSET_TOKEN", 1))
	_, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(nil))
	if err == nil || !strings.Contains(err.Error(), "auth.static_tokens[0].token_env") {
		t.Fatalf("newApp err = %v, want one naming auth.static_tokens[0].token_env", err)
	}
}

// TestStaticTokensReloadOnSIGHUP runs the server, changes the config and
// sends SIGHUP: the new token works, the old one (and a JWT exchanged for
// it) stops, and a kept-alive connection survives.
func TestStaticTokensReloadOnSIGHUP(t *testing.T) {
	t.Setenv("TG_TEST_FRONTEND_TOKEN", "old-secret-0123456789")
	t.Setenv("TG_TEST_NEW_TOKEN", "new-secret-0123456789")
	cfg, path := staticConfig(t, staticTOML)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	a.reloadConfig = func() (*config.Config, error) {
		return config.Load(config.Sources{File: path, Environ: []string{"TOLLGATE_SERVER_ADDR=127.0.0.1:0", "TOLLGATE_SERVER_DATA_DIR=" + cfg.Server.DataDir}})
	}
	// Belt and braces: this process never dies of a SIGHUP.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	defer signal.Stop(guard)
	addrc, done := make(chan net.Addr, 1), make(chan error, 1)
	go func() { done <- runServe(ctx, a, addrc) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runServe = %v", err)
		}
	}()
	base := "http://" + (<-addrc).String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	var reused []bool
	status := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/api/auth/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained: the connection is kept alive
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("old-secret-0123456789"); got != 200 {
		t.Fatalf("old token before reload = %d", got)
	}
	reqTok, _ := http.NewRequest("POST", base+"/api/auth/token", nil)
	reqTok.Header.Set("X-API-Key", "old-secret-0123456789")
	resp, err := client.Do(reqTok)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("exchange = %v %v", resp, err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeJSON(resp, &body); err != nil {
		t.Fatal(err)
	}
	if got := status(body.AccessToken); got != 200 {
		t.Fatalf("exchanged JWT before reload = %d", got)
	}

	renamed := strings.NewReplacer(`"frontend"`, `"web"`, "TG_TEST_FRONTEND_TOKEN", "TG_TEST_NEW_TOKEN").Replace(staticTOML)
	if err := os.WriteFile(path, []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Bounded polling: the reload runs on the signal goroutine.
	for i := 0; i < 500 && status("new-secret-0123456789") != 200; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := status("new-secret-0123456789"); got != 200 {
		t.Fatalf("new token after SIGHUP = %d", got)
	}
	if got := status("old-secret-0123456789"); got != 401 {
		t.Fatalf("old token after SIGHUP = %d, want 401", got)
	}
	if got := status(body.AccessToken); got != 401 {
		t.Fatalf("JWT of the removed token after SIGHUP = %d, want 401", got)
	}
	if len(reused) < 2 || slices.Contains(reused[1:], false) {
		t.Fatalf("connection reuse = %v; the reload dropped the kept-alive connection", reused)
	}

	// A broken config keeps the current tokens.
	if err := os.WriteFile(path, []byte(strings.Replace(renamed, "TG_TEST_NEW_TOKEN", "TG_TEST_UNSET_TOKEN", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.reloadStaticTokens(ctx); err == nil {
		t.Fatal("reload with an unset token_env succeeded")
	}
	if got := status("new-secret-0123456789"); got != 200 {
		t.Fatalf("token after failed reload = %d", got)
	}
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	err := json.NewDecoder(resp.Body).Decode(v)
	_, _ = io.Copy(io.Discard, resp.Body)
	return err
}
