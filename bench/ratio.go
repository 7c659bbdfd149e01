package main

import (
	"math"
	"time"
)

// medianDiff returns the median over rounds of a[r]-b[r], the rounds both
// have; 0 when there are none.
func medianDiff(a, b []time.Duration) time.Duration {
	n := min(len(a), len(b))
	d := make([]time.Duration, n)
	for r := range n {
		d[r] = a[r] - b[r]
	}
	return quantile(d, 0.5)
}

// ratio returns x/base, or NaN when base is not positive (no meaningful
// ratio, e.g. a zero added latency or a skipped measurement).
func ratio(x, base float64) float64 {
	if base <= 0 || math.IsNaN(base) || math.IsNaN(x) {
		return math.NaN()
	}
	return x / base
}

// micros converts d to microseconds as a float.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Target is one acceptance target from the issue, checked against the bare
// proxy measured in the same run.
type Target struct {
	Name    string  `json:"name"`
	Ratio   float64 `json:"ratio"` // measured value / bare proxy (or absolute for memory)
	Limit   float64 `json:"limit"`
	AtMost  bool    `json:"at_most"` // Ratio must be <= Limit, else >= Limit
	Met     bool    `json:"met"`
	Skipped string  `json:"skipped,omitempty"`
	Note    string  `json:"note,omitempty"`
}

// check fills t.Met; a NaN ratio counts as not met.
func (t Target) check() Target {
	switch {
	case t.Skipped != "" || math.IsNaN(t.Ratio):
		t.Met = false
	case t.AtMost:
		t.Met = t.Ratio <= t.Limit
	default:
		t.Met = t.Ratio >= t.Limit
	}
	return t
}
