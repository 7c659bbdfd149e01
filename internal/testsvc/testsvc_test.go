package testsvc

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSkipLineNamesPackageAndVariable(t *testing.T) {
	wd, _ := os.Getwd()
	want := "tollgate tests: SKIP in " + filepath.Base(wd) + ": TOLLGATE_TEST_X_URL is not set, so the tests that need it are skipped " +
		"(set it, or TOLLGATE_TEST_REQUIRE_SERVICES=1 to fail instead)"
	if got := skipLine("TOLLGATE_TEST_X_URL"); got != want {
		t.Fatalf("skipLine = %q, want %q", got, want)
	}
}
