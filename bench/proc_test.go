package main

import (
	"math"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Field 14 (utime) = 250, field 15 (stime) = 50; the command name holds
	// a space and a ')'.
	stat := []byte("4242 (tolly ga)te) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 8 0 12345 1000000 2000 18446744073709551615\n")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Fatalf("cpu = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 10 abc 5"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Fatalf("parseStatCPU(%q) succeeded, want an error", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := []byte("Name:\ttollgate\nVmPeak:\t  999 kB\nVmRSS:\t   20480 kB\nThreads:\t7\n")
	got, err := parseStatusRSS(status)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(20 << 20); got != want {
		t.Fatalf("rss = %d, want %d", got, want)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("no VmRSS line: want an error")
	}
	if _, err := parseStatusRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("bad unit: want an error")
	}
}

func TestProcOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := procRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 {
		t.Fatalf("rss = %d, want > 0", rss)
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_other 7\nx{a=\"b\"} 3\n"
	if got := metricValue(text, "go_goroutines"); got != 42 {
		t.Fatalf("go_goroutines = %v, want 42", got)
	}
	if got := metricValue(text, "missing"); !math.IsNaN(got) {
		t.Fatalf("missing = %v, want NaN", got)
	}
}
