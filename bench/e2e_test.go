package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestShortModeEndToEnd runs `go run ./bench -short` in-process. It builds
// the gateway and takes most of a minute, so it runs only with
// TOLLGATE_BENCH_E2E=1.
func TestShortModeEndToEnd(t *testing.T) {
	if os.Getenv("TOLLGATE_BENCH_E2E") != "1" {
		t.Skip("set TOLLGATE_BENCH_E2E=1 to run the short benchmark end to end")
	}
	res, err := run(context.Background(), options{short: true, chunks: 5, gap: 2e6, idleStreams: 200,
		redisURL: "redis://127.0.0.1:6379/0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) < 20 {
		t.Fatalf("%d rows, want at least 20", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Skipped == "" && r.Gateway == nil {
			t.Fatalf("row %s/%s/%s has no gateway figure", r.Scenario, r.Variant, r.Metric)
		}
	}
	if got, want := len(res.Targets), 5; got < want {
		t.Fatalf("%d targets, want at least %d", got, want)
	}
	if err := writeJSON(filepath.Join(t.TempDir(), "r.json"), res); err != nil {
		t.Fatal(err)
	}
}
