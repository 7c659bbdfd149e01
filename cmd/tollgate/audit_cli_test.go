package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// TestAuditCLI: the user commands leave records (actor system), `audit
// list --json` and `audit export` show them, `audit verify` passes, and
// after an edit in the database fails naming the edited record.
func TestAuditCLI(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	environ := []string{"TOLLGATE_SERVER_DATA_DIR=" + cfg.Server.DataDir, "TOLLGATE_SERVER_ADDR=127.0.0.1:0"}
	run := func(stdin string, args ...string) (string, string, error) { return runCLI(environ, stdin, args...) }
	if _, _, err := run("first admin pw\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin", "--init"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run("second pw!\n", "user", "create", "--email", "b@example.com", "--role", "contributor"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run("", "user", "set-role", "b@example.com", "viewer"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run("", "user", "set-role", "root@example.com", "viewer"); err == nil {
		t.Fatal("demoting the last admin succeeded")
	}
	out, _, err := run("", "audit", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var recs []gateway.AuditRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("audit list --json: %v\n%s", err, out)
	}
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action)
		if r.Actor.Type != "system" || r.Outcome != "success" {
			t.Errorf("record %+v: want actor system, success", r)
		}
	}
	if got, want := strings.Join(actions, ","), "user.role_changed,user.created,user.created"; got != want {
		t.Fatalf("actions = %s, want %s (the refused demotion leaves none)", got, want)
	}
	out, _, err = run("", "audit", "list", "--action", "user.created", "--since", "1h")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, "user.created") {
		t.Fatalf("audit list --action = %q, %v", out, err)
	}
	out, _, err = run("", "audit", "export", "--since", "1d")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("export = %d lines, want 3:\n%s", len(lines), out)
	}
	var first gateway.AuditRecord
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Action != "user.created" || first.Seq != 1 || first.Hash == "" {
		t.Fatalf("first exported line = %+v, %v", first, err)
	}
	if out, _, err = run("", "audit", "verify"); err != nil || out != "audit log intact: 3 records\n" {
		t.Fatalf("verify = %q, %v", out, err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(cfg.Server.DataDir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET actor_id = 'someone' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	second := recs[1] // newest first: seq 2
	_, _, err = run("", "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), second.ID) || !strings.Contains(err.Error(), "altered") {
		t.Fatalf("verify after edit = %v, want an error naming %s", err, second.ID)
	}
	if _, err := db.Exec(`DELETE FROM audit_log WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	_, _, err = run("", "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), "record 2 is missing") {
		t.Fatalf("verify after delete = %v, want record 2 missing", err)
	}
}
