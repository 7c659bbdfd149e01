package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/gateway"
)

// runMain runs the real command in a subprocess (TestMain) and returns
// its stdout, stderr and exit code.
func runMain(t *testing.T, args string, environ ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "TOLLGATE_TEST_AS_MAIN=1", "TOLLGATE_TEST_ARGS="+args), environ...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// cliEnv is the environment of CLI tests on data dir dir (no HOME of the
// person running the tests).
func cliEnv(dir string) []string {
	return []string{"TOLLGATE_SERVER_DATA_DIR=" + dir, "TOLLGATE_SERVER_ADDR=127.0.0.1:0", "HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "xdg")}
}

// TestCLIExitCodes runs the real binary: unknown commands and failures
// exit 1 with one "tollgate: ..." line, --version exits 0.
func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := cliEnv(dir)
	cases := []struct {
		args, stdout, stderr string
		code                 int
	}{
		{"--version", "tollgate " + version + "\n", "", 0},
		{"nosuch", "", "tollgate: unknown command \"nosuch\" for \"tollgate\"; see tollgate --help\n", 1},
		{"user nosuch", "", "tollgate: unknown command \"nosuch\" for \"tollgate user\"; see tollgate user --help\n", 1},
		{"key", "", "tollgate: tollgate key needs a subcommand; see tollgate key --help\n", 1},
		{"whoami", "", "tollgate: not logged in: run `tollgate login` or set TOLLGATE_API_KEY\n", 1},
		{"user list", "", "tollgate: no database at " + dir + "/tollgate.db (database.url = sqlite://" + dir + "/tollgate.db): " +
			"run this where the server runs, point --database-url (or --config) at its database, or create a new one with `tollgate migrate` or --init\n", 1},
		{"backup " + filepath.Join(dir, "b.db") + " --database-url postgres://u:pw@127.0.0.1:1/x", "",
			"tollgate: tollgate backup copies SQLite databases only; back up PostgreSQL with pg_dump (e.g. pg_dump -Fc -f tollgate.dump DATABASE_URL)\n", 1},
	}
	for _, tc := range cases {
		out, errOut, code := runMain(t, tc.args, env...)
		if out != tc.stdout || errOut != tc.stderr || code != tc.code {
			t.Errorf("tollgate %s = exit %d, stdout %q, stderr %q; want exit %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "tollgate.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused command created the database: %v", err)
	}
}

// TestCLIRefusesToCreateADatabase: user and key commands on a missing
// SQLite file refuse (naming the path and --database-url) unless --init
// or after migrate, which says what it applied.
func TestCLIRefusesToCreateADatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := cliEnv(dir)
	db := filepath.Join(dir, "tollgate.db")
	for _, args := range [][]string{{"user", "list"}, {"key", "list"}, {"key", "revoke", "x"}} {
		_, _, err := runCLI(env, "", args...)
		if err == nil || !strings.Contains(err.Error(), "no database at "+db) || !strings.Contains(err.Error(), "--database-url") {
			t.Fatalf("%v on a missing database: err = %v", args, err)
		}
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("database created: %v", err)
	}
	if out, _, err := runCLI(env, "", "user", "list", "--init"); err != nil || out != "ID  EMAIL  ROLE  ACTIVE  NAME\n" {
		t.Fatalf("user list --init = %q, %v", out, err)
	}
	if out, _, err := runCLI(env, "", "migrate"); err != nil || out != "database sqlite://"+db+" is migrated: nothing to apply\n" {
		t.Fatalf("migrate on a current database = %q, %v", out, err)
	}

	dir2 := t.TempDir()
	out, _, err := runCLI(cliEnv(dir2), "", "migrate")
	migrations, _ := filepath.Glob("../../internal/sqlstore/migrations/sqlite/*.sql")
	var want strings.Builder
	for _, m := range migrations {
		want.WriteString("applied " + filepath.Base(m) + "\n")
	}
	want.WriteString("database sqlite://" + dir2 + "/tollgate.db is migrated: " + itoa(len(migrations)) + " migration(s) applied\n")
	if err != nil || len(migrations) == 0 || out != want.String() {
		t.Fatalf("migrate = %q, %v; want %q", out, err, want.String())
	}
	if _, _, err := runCLI(cliEnv(dir2), "", "key", "list"); err != nil {
		t.Fatalf("key list after migrate: %v", err)
	}
}

// TestEveryCommandHasExamples walks the command tree.
func TestEveryCommandHasExamples(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" && !strings.HasPrefix(c.CommandPath(), "tollgate completion") {
			n++
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s has no example", c.CommandPath())
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(env{environ: os.Environ}))
	if n < 20 {
		t.Fatalf("walked %d commands", n)
	}
}

// TestCLIUserAdministration: list -o json, activate, reset-password from
// stdin, delete (deactivated, keys revoked, data kept).
func TestCLIUserAdministration(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	env := cliEnv(cfg.Server.DataDir)
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, _, err := runCLI(env, stdin, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	run("admin password\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--name", "Root")
	run("user password\n", "user", "create", "--email", "b@example.com", "--role", "contributor", "--name", "Bee")
	run("", "key", "create", "--user", "b@example.com", "--name", "one")
	run("", "key", "create", "--user", "b@example.com", "--name", "two")

	var users []map[string]any
	if err := json.Unmarshal([]byte(run("", "user", "list", "-o", "json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[1]["email"] != "b@example.com" || users[1]["name"] != "Bee" || users[1]["role"] != "contributor" || users[1]["active"] != true ||
		len(users[1]) != 6 {
		t.Fatalf("user list -o json = %v", users)
	}
	if got := run("", "user", "deactivate", "b@example.com"); got != "user b@example.com: role contributor, active false\n" {
		t.Fatalf("deactivate = %q", got)
	}
	if got := run("", "user", "activate", "b@example.com"); got != "user b@example.com: role contributor, active true\n" {
		t.Fatalf("activate = %q", got)
	}
	if got := run("a new password\n", "user", "reset-password", "b@example.com", "--password-stdin"); got != "password of b@example.com reset; their existing tokens no longer work\n" {
		t.Fatalf("reset-password = %q", got)
	}
	if _, _, err := runCLI(env, "short\n", "user", "reset-password", "b@example.com"); err == nil || !strings.Contains(err.Error(), "8 to 1024") {
		t.Fatalf("weak reset err = %v", err)
	}
	e := startAuthEnv(t, testConfig(t, env...), slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "b@example.com", "password": "user password"}), 401, "invalid_credentials", "")
	e.login("b@example.com", "a new password")

	if got := run("", "user", "delete", "b@example.com"); got != "deleted user b@example.com: deactivated, 2 API key(s) revoked; their data is kept\n" {
		t.Fatalf("delete = %q", got)
	}
	var keys []map[string]any
	if err := json.Unmarshal([]byte(run("", "key", "list", "-o", "json")), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0]["revoked_at"] == nil || keys[1]["revoked_at"] == nil || keys[0]["owner_email"] != "b@example.com" {
		t.Fatalf("keys after delete = %v", keys)
	}
	if u, err := e.app.identity.UserByEmail(context.Background(), "b@example.com"); err != nil || u.Active {
		t.Fatalf("user after delete = %+v, %v; want kept and inactive", u, err)
	}
	if _, _, err := runCLI(env, "", "user", "delete", "root@example.com"); err == nil || !strings.Contains(err.Error(), "no active admin") {
		t.Fatalf("deleting the last admin err = %v", err)
	}
	if _, _, err := runCLI(env, "", "user", "delete", "nobody@example.com"); err == nil || err.Error() != "no user with email nobody@example.com" {
		t.Fatalf("deleting a missing user err = %v", err)
	}
}

// TestCLIKeyRotateListRevoke: key list shows owner email and name (table
// and -o json), rotate prints a new secret, revoking twice fails.
func TestCLIKeyRotateListRevoke(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	env := cliEnv(cfg.Server.DataDir)
	if _, _, err := runCLI(env, "user password\n", "user", "create", "--email", "c@example.com", "--role", "contributor", "--name", "Cee"); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(env, "", "key", "create", "--user", "c@example.com", "--name", "deploy")
	if err != nil {
		t.Fatal(err)
	}
	old := strings.TrimSpace(out)
	out, _, _ = runCLI(env, "", "key", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID NAME PREFIX OWNER OWNER_NAME ROLE END_USER_MODE EXPIRES LAST_USED REVOKED" ||
		strings.Join(strings.Fields(lines[1])[1:], " ") != "deploy "+old[:11]+"… c@example.com Cee contributor false - - -" {
		t.Fatalf("key list = %q", out)
	}
	id := strings.Fields(lines[1])[0]
	out, stderr, err := runCLI(env, "", "key", "rotate", id, "--grace", "10m")
	secret := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(secret, "tg_") || secret == old || len(secret) != len(old) ||
		stderr != "rotated key "+id+" (deploy); the old secret keeps working for 10m0s; the new one is shown only now:\n" {
		t.Fatalf("rotate = %q / %q, %v", out, stderr, err)
	}
	var keys []map[string]any
	out, _, _ = runCLI(env, "", "key", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 1 || keys[0]["prefix"] != secret[:11] ||
		keys[0]["owner_email"] != "c@example.com" || keys[0]["owner_name"] != "Cee" || keys[0]["name"] != "deploy" {
		t.Fatalf("key list -o json = %s", out)
	}
	if out, _, err := runCLI(env, "", "key", "revoke", id); err != nil || out != "revoked key "+id+" (deploy)\n" {
		t.Fatalf("revoke = %q, %v", out, err)
	}
	_, _, err = runCLI(env, "", "key", "revoke", id)
	if err == nil || !strings.HasPrefix(err.Error(), "key "+id+" (deploy) is already revoked (since ") {
		t.Fatalf("second revoke err = %v", err)
	}
	if _, _, err := runCLI(env, "", "key", "rotate", id); err == nil || err.Error() != "key "+id+" (deploy) is revoked; create a new one" {
		t.Fatalf("rotate revoked err = %v", err)
	}
	// The real command exits 1 on the second revoke.
	_, errOut, code := runMain(t, "key revoke "+id, env...)
	if code != 1 || !strings.HasPrefix(errOut, "tollgate: key "+id+" (deploy) is already revoked") {
		t.Fatalf("second revoke (process) = exit %d, %q", code, errOut)
	}
	if _, _, err := runCLI(env, "", "key", "list", "-o", "yaml"); err == nil || err.Error() != `-o/--output: "yaml" is not table or json` {
		t.Fatalf("-o yaml err = %v", err)
	}
}

// TestCLIBackupRestores: tollgate backup of a database a server is using
// gives a file a new server starts on, with the same users.
func TestCLIBackupRestores(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	env := cliEnv(cfg.Server.DataDir)
	if _, _, err := runCLI(env, "admin password\n", "user", "create", "--email", "root@example.com", "--role", "admin"); err != nil {
		t.Fatal(err)
	}
	base, _, _ := startServe(t, cfg) // live
	if got := get(t, base+"/readyz"); got != 200 {
		t.Fatalf("readyz = %d", got)
	}
	backup := filepath.Join(t.TempDir(), "copy.db")
	out, _, err := runCLI(env, "", "backup", backup)
	if err != nil || out != "backed up "+cfg.Server.DataDir+"/tollgate.db to "+backup+"\n" {
		t.Fatalf("backup = %q, %v", out, err)
	}
	if _, _, err := runCLI(env, "", "backup", backup); err == nil || err.Error() != backup+" exists; choose a new file name" {
		t.Fatalf("backup over an existing file err = %v", err)
	}
	restored := testConfig(t, "TOLLGATE_DATABASE_URL=sqlite://"+backup)
	e := startAuthEnv(t, restored, slog.New(slog.DiscardHandler), &syncBuffer{}, testDeps(nil))
	if got := get(t, e.url+"/readyz"); got != 200 {
		t.Fatalf("readyz on the restored copy = %d", got)
	}
	tok := e.login("root@example.com", "admin password")
	me, err := e.client(tok).Me(t.Context())
	if err != nil || me.Email != "root@example.com" || me.Role != gateway.RoleAdmin.String() {
		t.Fatalf("me on the restored copy = %+v, %v", me, err)
	}
}
