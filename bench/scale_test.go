package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// TestScaleSmall runs the data-volume benchmark at 10^3 and 10^4 (under
// the race detector 300 and 10^3) on
// SQLite, and on PostgreSQL when the test server is configured, so the
// generator keeps compiling and working. It checks what was loaded and
// that every call answered, never how fast.
func TestScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10^4 rows")
	}
	engines := "sqlite"
	pg := os.Getenv("TOLLGATE_TEST_POSTGRES_URL")
	if pg != "" {
		engines += ",postgres"
	} else if os.Getenv("TOLLGATE_TEST_REQUIRE_SERVICES") != "" {
		t.Fatal("TOLLGATE_TEST_POSTGRES_URL is not set")
	}
	var out bytes.Buffer
	o := scaleOptions{small: true, pgURL: pg, engines: engines, reps: 3}
	if raceEnabled {
		// The race detector slows the loader tenfold: the same code on
		// fewer rows.
		o.sizes, o.users = []int{300, 1_000}, 50
	}
	rows, err := runScale(context.Background(), o, io.Discard, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ // rows each call returns for the small user, at any size
		"usage: small user, 90 days by model": 5,
		"keys: list, owner filter":            10,
		"conversations: list":                 10,
		"messages: list":                      10,
		"keys: verify by hash":                1,
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.Engine]++
		if w, ok := want[r.Call]; ok && r.Result != w {
			t.Errorf("%s %d %s: %d rows, want %d", r.Engine, r.Size, r.Call, r.Result, w)
		}
		if strings.HasPrefix(r.Call, "search") && r.Result == 0 {
			t.Errorf("%s %d %s found nothing", r.Engine, r.Size, r.Call)
		}
		if strings.HasPrefix(r.Call, "usage: all") && r.Result == 0 {
			t.Errorf("%s %d %s: empty", r.Engine, r.Size, r.Call)
		}
	}
	for _, eng := range strings.Split(engines, ",") {
		if seen[eng] != 2*10 {
			t.Errorf("%s: %d rows, want 2 sizes × 10 calls", eng, seen[eng])
		}
	}
	if !strings.Contains(out.String(), "| sqlite | search: small user, common word |") {
		t.Errorf("table:\n%s", out.String())
	}
}
