package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedianDiff(t *testing.T) {
	a := []time.Duration{110, 130, 125, 400}
	b := []time.Duration{100, 100, 100, 100, 999} // the extra round is ignored
	// diffs 10, 30, 25, 300: nearest-rank median is the 2nd smallest.
	if got, want := medianDiff(a, b), time.Duration(25); got != want {
		t.Fatalf("medianDiff = %v, want %v", got, want)
	}
	if got := medianDiff(nil, b); got != 0 {
		t.Fatalf("medianDiff(nil) = %v, want 0", got)
	}
}

func TestRatio(t *testing.T) {
	if got, want := ratio(130, 100), 1.3; got != want {
		t.Fatalf("ratio = %v, want %v", got, want)
	}
	for _, base := range []float64{0, -1, math.NaN()} {
		if got := ratio(1, base); !math.IsNaN(got) {
			t.Fatalf("ratio(1, %v) = %v, want NaN", base, got)
		}
	}
	r := newRow("s", "v", "m", "us", 10, 40, 50)
	if *r.VsBare != 1.25 || *r.VsDirect != 5 {
		t.Fatalf("row ratios = %v, %v, want 1.25, 5", *r.VsBare, *r.VsDirect)
	}
	r = newRow("s", "v", "m", "us", math.NaN(), 40, 50)
	if r.Direct != nil || r.VsDirect != nil {
		t.Fatalf("NaN direct: got %v, %v, want nil", r.Direct, r.VsDirect)
	}
}

func TestTargetCheck(t *testing.T) {
	cases := []struct {
		name string
		t    Target
		met  bool
	}{
		{"AtMostEqual", Target{Ratio: 1.3, Limit: 1.3, AtMost: true}, true},
		{"AtMostOver", Target{Ratio: 1.31, Limit: 1.3, AtMost: true}, false},
		{"AtLeastUnder", Target{Ratio: 0.79, Limit: 0.8}, false},
		{"AtLeastOver", Target{Ratio: 0.9, Limit: 0.8}, true},
		{"NaN", Target{Ratio: math.NaN(), Limit: 1, AtMost: true}, false},
		{"Skipped", Target{Ratio: 1, Limit: 2, AtMost: true, Skipped: "no credential"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.t.check().Met; got != c.met {
				t.Fatalf("Met = %v, want %v", got, c.met)
			}
		})
	}
}

func TestGoBenchTarget(t *testing.T) {
	out := "BenchmarkChatCompletions/NonStream     \t     500\t     51234 ns/op\t    9876 B/op\t     135 allocs/op\n" +
		"BenchmarkChatCompletions/NonStream     \t    5000\t     50000 ns/op\t    9870 B/op\t     136 allocs/op\n"
	tg, ok := goBenchTarget(out)
	if !ok {
		t.Fatal("not parsed")
	}
	if got, want := tg.Ratio, 136.0/135.0; got != want {
		t.Fatalf("ratio = %v, want %v", got, want)
	}
	if tg.Met {
		t.Fatal("growth from 135 to 136 allocs/op: want not met")
	}
	if _, ok := goBenchTarget("no benchmark lines"); ok {
		t.Fatal("parsed garbage")
	}
}

func TestChatBodySize(t *testing.T) {
	for _, n := range []int{100, 16 << 10, 1 << 20} {
		b := chatBody(modelSmall, false, n)
		if len(b) != n {
			t.Fatalf("len = %d, want %d", len(b), n)
		}
		if !strings.HasSuffix(string(b), `"}]}`) {
			t.Fatalf("body does not end the JSON: %q", b[len(b)-8:])
		}
	}
}

func TestGatewayConfigNamesTheMock(t *testing.T) {
	c := gatewayConfig("127.0.0.1:1234", "/tmp/d", "http://127.0.0.1:9")
	for _, want := range []string{`addr = "127.0.0.1:1234"`, `base_url = "http://127.0.0.1:9/v1"`, `name = "bench-idle"`} {
		if !strings.Contains(c, want) {
			t.Fatalf("config lacks %q:\n%s", want, c)
		}
	}
}

func TestIdleAt10k(t *testing.T) {
	r := idleResult{Open: 5000, Before: 100 << 20, After: 400 << 20}
	if got, want := idleAt10k(r), float64(700<<20); got != want {
		t.Fatalf("idleAt10k = %v, want %v", got, want)
	}
	if got := idleAt10k(idleResult{}); !math.IsNaN(got) {
		t.Fatalf("idleAt10k(none open) = %v, want NaN", got)
	}
}

func TestMarkdownRoundTrip(t *testing.T) {
	res := &Result{Mode: "short", Rows: []Row{newRow("latency", "gateway", "median latency", "us", 40, 400, 500),
		{Scenario: "latency", Variant: "jwt", Metric: "JWT", Skipped: "no credential"}},
		Targets: []Target{Target{Name: "x", Ratio: math.NaN(), Limit: 1.3, AtMost: true}.check()}}
	path := t.TempDir() + "/r.json"
	if err := writeJSON(path, res); err != nil {
		t.Fatal(err)
	}
	back, err := readResult(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeMarkdown(&b, back)
	for _, want := range []string{"| latency | gateway | median latency | us | 40.0 | 400 | 500 | 1.25x | 12.50x |",
		"skipped: no credential", "| x | - | ≤ 1.30 | **missed** () |"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("markdown lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteSpread(t *testing.T) {
	mk := func(v float64) *Result {
		return &Result{Targets: []Target{Target{Name: "x", Ratio: v, Limit: 1, AtMost: true}.check()}}
	}
	var b strings.Builder
	writeSpread(&b, []*Result{mk(1.3), mk(0.9), mk(1.1)})
	if want := "| x | ≤ 1 | 0.90 | 1.10 | 1.30 | 1/3 |\n"; !strings.HasSuffix(b.String(), want) {
		t.Fatalf("spread =\n%s\nwant it to end with\n%s", b.String(), want)
	}
}
