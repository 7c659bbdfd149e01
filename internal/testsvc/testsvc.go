// Package testsvc gives tests the real PostgreSQL and Redis servers named by
// TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_REDIS_URL. Without them a test
// is skipped visibly, unless TOLLGATE_TEST_REQUIRE_SERVICES=1, which turns
// the skip into a failure so CI never passes by skipping.
package testsvc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// PostgresURL returns the test PostgreSQL URL or skips/fails the test.
func PostgresURL(t testing.TB) string { return need(t, "TOLLGATE_TEST_POSTGRES_URL") }

// RedisURL returns the test Redis URL or skips/fails the test.
func RedisURL(t testing.TB) string { return need(t, "TOLLGATE_TEST_REDIS_URL") }

// Required reports whether missing services fail the run.
func Required() bool { return os.Getenv("TOLLGATE_TEST_REQUIRE_SERVICES") == "1" }

func need(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	if Required() {
		t.Fatalf("%s is not set and TOLLGATE_TEST_REQUIRE_SERVICES=1", env)
	}
	announceSkip(env)
	t.Skipf("SKIP: %s is not set; this test needs a real server", env)
	return ""
}

// announced holds the variables whose absence this test process has
// already announced.
var announced sync.Map

// announceSkip prints one line per missing variable and test process
// where a person sees it in normal (non -v) output. go test shows a
// passing package's output only with -v, so the line goes to the
// terminal (/dev/tty) when there is one, and to stderr as well (seen with
// -v, in a failing package's output, and by anything that reads the test
// binary's output directly).
func announceSkip(env string) {
	if _, done := announced.LoadOrStore(env, true); done {
		return
	}
	line := skipLine(env)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		fmt.Fprintln(tty, line)
		tty.Close()
	}
	fmt.Fprintln(os.Stderr, line)
}

// skipLine is the announcement for a missing variable: which package
// skips and how to run it.
func skipLine(env string) string {
	pkg := "this package"
	if wd, err := os.Getwd(); err == nil {
		pkg = filepath.Base(wd)
	}
	return fmt.Sprintf("tollgate tests: SKIP in %s: %s is not set, so the tests that need it are skipped (set it, or TOLLGATE_TEST_REQUIRE_SERVICES=1 to fail instead)", pkg, env)
}

// UniqueName returns prefix + 12 random hex characters, for schemas and keys
// that must not collide between parallel test runs.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
