// Package testsvc gives tests the real PostgreSQL and Redis servers named by
// TOLLGATE_TEST_POSTGRES_URL and TOLLGATE_TEST_REDIS_URL. Without them a test
// is skipped visibly, unless TOLLGATE_TEST_REQUIRE_SERVICES=1, which turns
// the skip into a failure so CI never passes by skipping.
package testsvc

import (
	"crypto/rand"
	"encoding/hex"
	"os"
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
	t.Skipf("SKIP: %s is not set; this test needs a real server", env)
	return ""
}

// UniqueName returns prefix + 12 random hex characters, for schemas and keys
// that must not collide between parallel test runs.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
