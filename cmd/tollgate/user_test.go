package main

import (
	"log/slog"
	"strings"
	"testing"
)

func TestUserCLI(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	environ := []string{"TOLLGATE_SERVER_DATA_DIR=" + cfg.Server.DataDir, "TOLLGATE_SERVER_ADDR=127.0.0.1:0"}
	run := func(stdin string, args ...string) (string, string, error) {
		return runCLI(environ, stdin, args...)
	}
	out, _, err := run("first admin pw\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--name", "Root", "--password-stdin")
	if err != nil || !strings.Contains(out, "created user root@example.com") {
		t.Fatalf("user create = %q, %v", out, err)
	}
	// Not a terminal and no flag: the password is still read from stdin.
	if _, _, err := run("second pw!\n", "user", "create", "--email", "b@example.com", "--role", "contributor"); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run("", "user", "create", "--email", "c@example.com", "--role", "viewer", "--password", "argv password")
	if err != nil || !strings.Contains(stderr, "warning") {
		t.Fatalf("--password: stderr %q, err %v; want a warning", stderr, err)
	}
	if _, _, err := run("short\n", "user", "create", "--email", "d@example.com", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "8 to 1024") {
		t.Fatalf("weak password err = %v", err)
	}
	if _, _, err := run("another pw!\n", "user", "create", "--email", "B@example.com", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate err = %v", err)
	}
	if _, _, err := run("x pw pw pw\n", "user", "create", "--email", "e@example.com", "--role", "owner"); err == nil {
		t.Fatal("unknown role accepted")
	}

	out, _, err = run("", "user", "list")
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, "root@example.com") || !strings.Contains(out, "contributor") {
		t.Fatalf("user list = %q, %v", out, err)
	}
	if out, _, err = run("", "user", "set-role", "B@EXAMPLE.COM", "viewer"); err != nil || !strings.Contains(out, "role viewer") {
		t.Fatalf("set-role = %q, %v", out, err)
	}
	if _, _, err = run("", "user", "set-role", "root@example.com", "viewer"); err == nil || !strings.Contains(err.Error(), "no active admin") {
		t.Fatalf("demoting the last admin err = %v", err)
	}
	if out, _, err = run("", "user", "deactivate", "c@example.com"); err != nil || !strings.Contains(out, "active false") {
		t.Fatalf("deactivate = %q, %v", out, err)
	}
	if _, _, err = run("", "user", "deactivate", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("deactivate unknown err = %v", err)
	}

	// The server on the same database: the CLI's admin logs in, setup is done,
	// the demotion and deactivation hold.
	e := startAuthEnv(t, testConfig(t, environ...), slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	wantError(t, e.do("POST", "/api/setup", "", map[string]string{"email": "x@example.com", "password": adminPassword}), 409, "already_set_up", "")
	e.login("root@example.com", "first admin pw")
	b := e.login("b@example.com", "second pw!")
	wantError(t, e.do("POST", "/test/contribute", b, nil), 403, "insufficient_role", "")
	wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "c@example.com", "password": "argv password"}), 401, "invalid_credentials", "")
}
