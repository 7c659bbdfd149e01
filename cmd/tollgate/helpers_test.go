package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// testPasswords are cheap argon2id parameters. Tests hash and verify
// passwords by the dozen and check what the answers are, not what they
// cost; TestParallelLoginsBoundedMemory, which measures the cost, runs
// with the production parameters.
var testPasswords = auth.PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// testDeps are the app dependencies of tests: st (nil: the configured
// database) and cheap password hashing.
func testDeps(st *sqlstore.Store) appDeps { return appDeps{store: st, passwords: testPasswords} }

// mapEnv is a getenv over m, so that a test can give static tokens their
// secrets without t.Setenv (which rules out t.Parallel).
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// newHTTPTest serves an app's handler on a test server.
func newHTTPTest(t *testing.T, a *app) string {
	t.Helper()
	srv := httptest.NewServer(a.api.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// get returns the status of a GET.
func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// runCLI runs the tollgate CLI in-process with the given environment and
// stdin, and returns its stdout, stderr and error.
func runCLI(environ []string, stdin string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRootCmd(env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		environ: func() []string { return environ }})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}
