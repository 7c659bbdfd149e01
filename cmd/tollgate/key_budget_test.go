package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// TestKeyCreateBudgetCLI: key create --models --budget-cost --budget-period
// stores the key's allowed models and one budget on it; bad values name
// the flag.
func TestKeyCreateBudgetCLI(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	environ := []string{"TOLLGATE_SERVER_DATA_DIR=" + cfg.Server.DataDir, "TOLLGATE_SERVER_ADDR=127.0.0.1:0"}
	run := func(args ...string) (string, string, error) { return runCLI(environ, "", args...) }
	if _, _, err := runCLI(environ, "pw for d\n", "user", "create", "--email", "d@example.com", "--role", "contributor"); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run("key", "create", "--user", "d@example.com", "--name", "capped", "--models", "gpt-4*,llama",
		"--budget-cost", "1", "--budget-tokens", "50000", "--budget-period", "day")
	if err != nil || !strings.Contains(stderr, "50000 tokens and 1.000000 per day") {
		t.Fatalf("key create = %q, %v", stderr, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--budget-cost", "x"}, "--budget-cost"},
		{[]string{"--budget-tokens", "5", "--budget-period", "year"}, "--budget-period"},
		{[]string{"--budget-period", "week"}, "--budget-period needs"},
		{[]string{"--models", "a*b"}, "body.allowed_models"},
	} {
		_, _, err := run(append([]string{"key", "create", "--user", "d@example.com", "--name", "bad"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("key create %v err = %v, want %q", tc.args, err, tc.want)
		}
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(context.Background()) })
	all, err := a.store.ListBudgets(t.Context())
	if err != nil || len(all) != 1 {
		t.Fatalf("budgets = %+v, %v; want one (refused creations store none)", all, err)
	}
	b := all[0]
	k, err := a.store.APIKey(t.Context(), b.Subject)
	if err != nil || k.Name != "capped" || strings.Join(k.AllowedModels, ",") != "gpt-4*,llama" {
		t.Fatalf("key = %+v, %v", k, err)
	}
	if b.SubjectType != gateway.BudgetKey || b.Period != gateway.PeriodDay || *b.MaxCost != 1_000_000 || *b.MaxTokens != 50000 {
		t.Fatalf("budget = %+v", b)
	}
}
