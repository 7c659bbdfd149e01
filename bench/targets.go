package main

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// targetsInput is what the targets are computed from.
type targetsInput struct {
	auth    bool // the main variant had API key auth on
	rounds  *rounds
	satBare *loadResult
	satGW   *loadResult
	stream  *rounds
	idle    idleResult
}

// targets checks the targets against the bare proxy of the same run.
func targets(in targetsInput) []Target {
	note := "rate limit + usage on"
	if !in.auth {
		note += "; API key auth not measured (no credential)"
	} else {
		note = "API key auth + " + note
	}
	nan := math.NaN()
	added, cpu, sat, ttfb, mem := nan, nan, nan, nan, nan
	if rs := in.rounds; rs != nil {
		added = ratio(float64(medianDiff(rs.Median[2], rs.Median[0])), float64(medianDiff(rs.Median[1], rs.Median[0])))
	}
	if in.satBare != nil && in.satGW != nil {
		cpu = ratio(float64(in.satGW.CPUPerRequest()), float64(in.satBare.CPUPerRequest()))
		sat = ratio(in.satGW.Throughput(), in.satBare.Throughput())
	}
	if rs := in.stream; rs != nil {
		ttfb = ratio(float64(medianDiff(rs.FirstMedian[2], rs.FirstMedian[0])), float64(medianDiff(rs.FirstMedian[1], rs.FirstMedian[0])))
	}
	mem = idleAt10k(in.idle) / (1 << 30)
	idleNote := fmt.Sprintf("GiB RSS with %d idle streams", in.idle.Open)
	if in.idle.Open != 10000 {
		idleNote = fmt.Sprintf("GiB RSS at 10,000 idle streams, extrapolated linearly from %d", in.idle.Open)
	}
	ts := []Target{
		{Name: "added median latency vs bare", Ratio: added, Limit: 1.3, AtMost: true, Note: note},
		{Name: "CPU per request vs bare", Ratio: cpu, Limit: 1.5, AtMost: true, Note: note},
		{Name: "saturation throughput vs bare", Ratio: sat, Limit: 0.8, Note: note},
		{Name: "added stream TTFB vs bare", Ratio: ttfb, Limit: 1.3, AtMost: true, Note: note},
		{Name: "idle streams memory", Ratio: mem, Limit: 1, AtMost: true, Note: idleNote},
	}
	for i := range ts {
		ts[i] = ts[i].check()
	}
	return ts
}

// allocsRe matches a -benchmem line of the non-streamed proxy benchmark.
func allocsRe() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^BenchmarkChatCompletions/NonStream\S*\s+(\d+)\s+.*?(\d+) B/op\s+(\d+) allocs/op`)
}

// allocGrowth runs the proxy handler's benchmark with -benchmem at two
// iteration counts, ten times apart; allocations per request must not grow.
func allocGrowth(ctx context.Context, root string, short bool) (string, error) {
	counts := []string{"2000x", "20000x"}
	if short {
		counts = []string{"500x", "5000x"}
	}
	var out strings.Builder
	for _, n := range counts {
		cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "BenchmarkChatCompletions/NonStream",
			"-benchmem", "-benchtime", n, "-cpu", "1", "./internal/proxy")
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		if err != nil {
			return out.String(), fmt.Errorf("%v: %s", err, b)
		}
		for _, m := range allocsRe().FindAllString(string(b), -1) {
			out.WriteString(m + "\n")
		}
	}
	return out.String(), nil
}

// goBenchTarget compares allocs/op of the two runs allocGrowth made.
func goBenchTarget(s string) (Target, bool) {
	m := allocsRe().FindAllStringSubmatch(s, -1)
	if len(m) != 2 {
		return Target{}, false
	}
	a, _ := strconv.ParseFloat(m[0][3], 64)
	b, _ := strconv.ParseFloat(m[1][3], 64)
	t := Target{Name: "allocs/op growth at 10x iterations", Ratio: ratio(b, a), Limit: 1.0, AtMost: true,
		Note: fmt.Sprintf("%s -> %s allocs/op (go test -bench -benchmem)", m[0][3], m[1][3])}
	return t.check(), true
}

// idleAt10k is the RSS in bytes the server would hold with 10,000 idle
// streams: measured when exactly 10,000 were open, else extrapolated
// linearly from the growth per stream. NaN when none were open.
func idleAt10k(r idleResult) float64 {
	if r.Open <= 0 {
		return math.NaN()
	}
	return float64(r.Before) + float64(r.After-r.Before)*10000/float64(r.Open)
}
