package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestKeyCLI(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	environ := []string{"TOLLGATE_SERVER_DATA_DIR=" + cfg.Server.DataDir, "TOLLGATE_SERVER_ADDR=127.0.0.1:0"}
	run := func(stdin string, args ...string) (string, string, error) {
		return runCLI(environ, stdin, args...)
	}
	if _, _, err := run("contributor pw\n", "user", "create", "--email", "c@example.com", "--role", "contributor"); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := run("", "key", "create", "--user", "C@example.com", "--name", "deploy", "--expires", "30d", "--end-user-mode")
	secret := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(secret, "tg_") || len(secret) != 46 || !strings.Contains(stderr, "shown only now") {
		t.Fatalf("key create = %q / %q, %v", out, stderr, err)
	}
	if _, _, err := run("", "key", "create", "--user", "c@example.com", "--name", "x", "--role", "admin"); err == nil || !strings.Contains(err.Error(), "body.role") {
		t.Fatalf("role above the owner's err = %v", err)
	}
	if _, _, err := run("", "key", "create", "--user", "c@example.com", "--name", "x", "--expires", "soon"); err == nil || !strings.Contains(err.Error(), "--expires") {
		t.Fatalf("bad --expires err = %v", err)
	}
	if _, _, err := run("", "key", "create", "--user", "nobody@example.com", "--name", "x"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("unknown user err = %v", err)
	}

	out, _, err = run("", "key", "list", "--user", "c@example.com")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.Contains(lines[1], "deploy") || !strings.Contains(lines[1], "tg_"+secret[3:11]+"…") ||
		!strings.Contains(lines[1], "true") || strings.Contains(out, secret) {
		t.Fatalf("key list = %q, %v", out, err)
	}
	id := strings.Fields(lines[1])[0]

	// A server on the same database accepts the key, and drops it at its
	// next sync after the CLI revokes it.
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(context.Background()) })
	e := &authEnv{t: t, app: a, url: newHTTPTest(t, a), logs: &syncBuffer{}}
	me := e.do("GET", "/api/auth/me", secret, nil, "X-End-User-Id", "u1")
	wantStatus(t, me, 200)
	if me.body["email"] != "c@example.com" || me.body["end_user_id"] != "u1" || me.body["role"] != "contributor" {
		t.Fatalf("me = %s", me.raw)
	}
	if out, _, err := run("", "key", "revoke", id); err != nil || !strings.Contains(out, "revoked key "+id) {
		t.Fatalf("key revoke = %q, %v", out, err)
	}
	if _, _, err := run("", "key", "revoke", "missing"); err == nil || err.Error() != "no API key with id missing" {
		t.Fatalf("revoke missing err = %v", err)
	}
	if err := a.identity.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.do("GET", "/api/auth/me", secret, nil), 401, "invalid_authorization", "")
	out, _, _ = run("", "key", "list")
	if !strings.Contains(out, "deploy") || strings.Count(strings.TrimSpace(out), "\n") != 1 || strings.HasSuffix(strings.TrimSpace(out), "-") {
		t.Fatalf("key list after revoke = %q (want revoked time set)", out)
	}
}
