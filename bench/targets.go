package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// targetsInput is what the targets are computed from, all from
// one run.
type targetsInput struct {
	auth    bool // the main variant had API key auth on
	rounds  *rounds
	satBare *loadResult
	satGW   *loadResult
	// fixedBare and fixedGW are the fixed-rate load at half the bare
	// proxy's saturation.
	fixedBare, fixedGW *loadResult
	stream             *rounds
	// memRL and redisRL are the latency rounds of the in-memory and the
	// Redis rate limiter variants (both without auth).
	memRL, redisRL *rounds
	body1MiB       *rounds
	idle           idleResult
	// goroutinesPerIdle is the gateway's goroutines per idle stream (NaN
	// when its metrics could not be read).
	goroutinesPerIdle float64
}

// addedMedian is the gateway's added median over the bare proxy's (target
// 2 over target 1, both minus direct, medians of round differences).
func addedMedian(rs *rounds) float64 {
	if rs == nil {
		return math.NaN()
	}
	return ratio(float64(medianDiff(rs.Median[2], rs.Median[0])), float64(medianDiff(rs.Median[1], rs.Median[0])))
}

// addedP99 is the gateway's added p99 over the bare proxy's (p99 of all
// samples minus direct's).
func addedP99(rs *rounds) float64 {
	if rs == nil {
		return math.NaN()
	}
	d := rs.All[0].Quantile(0.99)
	return ratio(float64(rs.All[2].Quantile(0.99)-d), float64(rs.All[1].Quantile(0.99)-d))
}

// gwAdded is a rounds' gateway added median (or p99) in µs, for comparing
// two variants' gateways.
func gwAdded(rs *rounds, p99 bool) float64 {
	if rs == nil {
		return math.NaN()
	}
	if p99 {
		return micros(rs.All[2].Quantile(0.99) - rs.All[0].Quantile(0.99))
	}
	return micros(medianDiff(rs.Median[2], rs.Median[0]))
}

// targets checks issue 20's targets, each against the bare proxy of the
// same run (the Redis ones against the in-memory limiter of the same run).
func targets(in targetsInput) []Target {
	note := "rate limit + usage on"
	if !in.auth {
		note += "; API key auth not measured (no credential)"
	} else {
		note = "API key auth + " + note
	}
	nan := math.NaN()
	cpu, sat, fixed := nan, nan, nan
	if in.satBare != nil && in.satGW != nil {
		cpu = ratio(float64(in.satGW.CPUPerRequest()), float64(in.satBare.CPUPerRequest()))
		sat = ratio(in.satGW.Throughput(), in.satBare.Throughput())
	}
	if in.fixedBare != nil && in.fixedGW != nil {
		fixed = ratio(float64(in.fixedGW.Lat.Quantile(0.99)), float64(in.fixedBare.Lat.Quantile(0.99)))
	}
	ttfb, total := nan, nan
	if rs := in.stream; rs != nil {
		ttfb = ratio(float64(medianDiff(rs.FirstMedian[2], rs.FirstMedian[0])), float64(medianDiff(rs.FirstMedian[1], rs.FirstMedian[0])))
		total = addedMedian(rs)
	}
	redisNote := "added latency with the Redis limiter / with the in-memory limiter, same run"
	mem := idleAt10k(in.idle) / (1 << 30)
	idleNote := fmt.Sprintf("GiB RSS with %d idle streams", in.idle.Open)
	if in.idle.Open != 10000 {
		idleNote = fmt.Sprintf("GiB RSS at 10,000 idle streams, extrapolated linearly from %d (open-file limit)", in.idle.Open)
	}
	if !math.IsNaN(in.goroutinesPerIdle) {
		idleNote += fmt.Sprintf("; %.2f gateway goroutines per idle stream", in.goroutinesPerIdle)
	}
	ts := []Target{
		{Name: "added median latency vs bare", Ratio: addedMedian(in.rounds), Limit: 1.0, AtMost: true, Note: note},
		{Name: "added p99 latency vs bare", Ratio: addedP99(in.rounds), Limit: 1.2, AtMost: true, Note: note},
		{Name: "CPU per request vs bare", Ratio: cpu, Limit: 1.0, AtMost: true, Note: note},
		{Name: "saturation throughput vs bare", Ratio: sat, Limit: 1.0, Note: note},
		{Name: "added stream TTFB vs bare", Ratio: ttfb, Limit: 1.0, AtMost: true, Note: note},
		{Name: "added stream total time vs bare", Ratio: total, Limit: 1.0, AtMost: true, Note: note},
		{Name: "Redis limiter added median vs in-memory", Ratio: ratio(gwAdded(in.redisRL, false), gwAdded(in.memRL, false)), Limit: 1.2, AtMost: true, Note: redisNote},
		{Name: "Redis limiter added p99 vs in-memory", Ratio: ratio(gwAdded(in.redisRL, true), gwAdded(in.memRL, true)), Limit: 1.5, AtMost: true, Note: redisNote},
		{Name: "1 MiB body added median vs bare", Ratio: addedMedian(in.body1MiB), Limit: 1.2, AtMost: true, Note: note},
		{Name: "1 MiB body added p99 vs bare", Ratio: addedP99(in.body1MiB), Limit: 2.0, AtMost: true, Note: note},
		{Name: "fixed rate (50% of saturation) p99 vs bare", Ratio: fixed, Limit: 1.5, AtMost: true, Note: note},
		{Name: "idle streams memory", Ratio: mem, Limit: 0.6, AtMost: true, Note: idleNote},
	}
	if in.redisRL == nil {
		ts[6].Skipped, ts[7].Skipped = "Redis variant skipped", "Redis variant skipped"
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

// writeSpread prints, as Markdown, the min/median/max of every target's
// measured value across runs and in how many runs it was met.
func writeSpread(w io.Writer, runs []*Result) {
	if len(runs) == 0 {
		return
	}
	fmt.Fprintf(w, "| target | limit | min | median | max | met in |\n|---|--:|--:|--:|--:|--:|\n")
	for _, t0 := range runs[0].Targets {
		var vals []float64
		met := 0
		for _, r := range runs {
			for _, t := range r.Targets {
				if t.Name != t0.Name {
					continue
				}
				if !math.IsNaN(t.Ratio) && t.Ratio >= 0 {
					vals = append(vals, t.Ratio)
				}
				if t.Met {
					met++
				}
			}
		}
		op := "≥"
		if t0.AtMost {
			op = "≤"
		}
		if len(vals) == 0 {
			fmt.Fprintf(w, "| %s | %s %g | - | - | - | %d/%d |\n", t0.Name, op, t0.Limit, met, len(runs))
			continue
		}
		slices.Sort(vals)
		fmt.Fprintf(w, "| %s | %s %g | %.2f | %.2f | %.2f | %d/%d |\n", t0.Name, op, t0.Limit,
			vals[0], vals[len(vals)/2], vals[len(vals)-1], met, len(runs))
	}
}
