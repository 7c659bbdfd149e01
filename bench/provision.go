package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// provisionKey creates, with the gateway's own CLI, a SQLite database in
// dir holding an admin user and an API key, and returns the key and the
// environment that points a gateway at that database. The gateway then
// runs in auth mode auto → required, so every request of the api-key
// variant is authenticated by the key cache. budgetKey is a second key of
// the same user with a monthly token budget far larger than any run uses,
// so the budget variants admit every request but pay for the admission
// (reserve, settle) on each.
func provisionKey(ctx context.Context, bin, dir string) (key, budgetKey string, env []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", nil, err
	}
	dbURL := "sqlite://" + dir + "/tollgate.db"
	run := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--database-url", dbURL)...)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("tollgate %s: %w: %s", strings.Join(args, " "), err, errOut.String())
		}
		return strings.TrimSpace(out.String()), nil
	}
	// The CLI refuses to create a database by accident: migrate makes it.
	if _, err := run("", "migrate"); err != nil {
		return "", "", nil, err
	}
	if _, err := run("bench-password-0123\n", "user", "create", "--email", "bench@example.com", "--role", "admin", "--password-stdin"); err != nil {
		return "", "", nil, err
	}
	if key, err = run("", "key", "create", "--user", "bench@example.com", "--name", "bench"); err != nil {
		return "", "", nil, err
	}
	if budgetKey, err = run("", "key", "create", "--user", "bench@example.com", "--name", "bench-budget",
		"--budget-tokens", "1000000000000", "--budget-period", "month"); err != nil {
		return "", "", nil, err
	}
	for _, k := range []string{key, budgetKey} {
		if !strings.HasPrefix(k, "tg_") {
			return "", "", nil, fmt.Errorf("tollgate key create printed no key")
		}
	}
	return key, budgetKey, []string{"TOLLGATE_DATABASE_URL=" + dbURL}, nil
}
