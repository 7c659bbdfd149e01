package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is one line of the result table. Values are nil where a column does
// not apply; ratios compare the gateway with the bare proxy and with the
// direct call.
type Row struct {
	Scenario string   `json:"scenario"`
	Variant  string   `json:"variant"`
	Metric   string   `json:"metric"`
	Unit     string   `json:"unit"`
	Direct   *float64 `json:"direct"`
	Bare     *float64 `json:"bare_proxy"`
	Gateway  *float64 `json:"gateway"`
	VsBare   *float64 `json:"gateway_vs_bare"`
	VsDirect *float64 `json:"gateway_vs_direct"`
	Skipped  string   `json:"skipped,omitempty"`
}

// Result is the whole run, as written to JSON.
type Result struct {
	Mode     string    `json:"mode"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Notes    []string  `json:"notes"`
	Rows     []Row     `json:"rows"`
	Targets  []Target  `json:"targets"`
	GoBench  string    `json:"go_bench,omitempty"`
	LogsKept string    `json:"logs_kept,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemoryMB int64  `json:"memory_mb"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
}

// num is v, or nil for NaN (JSON has no NaN).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// newRow builds a row; pass NaN for columns that do not apply.
func newRow(scenario, variant, metric, unit string, direct, bare, gw float64) Row {
	return Row{Scenario: scenario, Variant: variant, Metric: metric, Unit: unit,
		Direct: num(direct), Bare: num(bare), Gateway: num(gw),
		VsBare: num(ratio(gw, bare)), VsDirect: num(ratio(gw, direct))}
}

func fmtNum(p *float64) string {
	if p == nil {
		return "-"
	}
	v := *p
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRatio(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx", *p)
}

// writeTable prints rows and targets as aligned text.
func writeTable(w io.Writer, res *Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tVARIANT\tMETRIC\tUNIT\tDIRECT\tBARE\tGATEWAY\tGW/BARE\tGW/DIRECT")
	for _, r := range res.Rows {
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t\t\tskipped: %s\n", r.Scenario, r.Variant, r.Metric, r.Skipped)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Variant, r.Metric, r.Unit,
			fmtNum(r.Direct), fmtNum(r.Bare), fmtNum(r.Gateway), fmtRatio(r.VsBare), fmtRatio(r.VsDirect))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tMEASURED\tLIMIT\tRESULT")
	for _, t := range res.Targets {
		verdict := "met"
		switch {
		case t.Skipped != "":
			verdict = "skipped: " + t.Skipped
		case !t.Met:
			verdict = "MISSED"
		}
		op := ">="
		if t.AtMost {
			op = "<="
		}
		m := "-"
		if !math.IsNaN(t.Ratio) {
			m = fmt.Sprintf("%.2f", t.Ratio)
		}
		note := ""
		if t.Note != "" {
			note = " (" + t.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %.2f\t%s%s\n", t.Name, m, op, t.Limit, verdict, note)
	}
	_ = tw.Flush()
	for _, n := range res.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// writeJSON writes res to path, creating its directory.
func writeJSON(path string, res *Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	for i := range res.Targets {
		if math.IsNaN(res.Targets[i].Ratio) {
			res.Targets[i].Ratio = -1 // JSON has no NaN; -1 means not measured
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// describeMachine reads /proc for the CPU model and memory.
func describeMachine(cpus int, goVersion string) Machine {
	m := Machine{CPUs: cpus, Go: goVersion}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryMB = kb >> 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// writeMarkdown writes the machine, the rows and the targets as Markdown,
// for docs/benchmarks.md.
func writeMarkdown(w io.Writer, res *Result) {
	m := res.Machine
	fmt.Fprintf(w, "Mode `%s`, %s, %.0f s. Machine: %d CPUs (%s), %d MiB memory, Linux %s, %s.\n\n",
		res.Mode, res.Started.Format("2006-01-02 15:04 MST"), res.Seconds, m.CPUs, m.CPUModel, m.MemoryMB, m.Kernel, m.Go)
	fmt.Fprintln(w, "| scenario | variant | metric | unit | direct | bare | gateway | gw/bare | gw/direct |")
	fmt.Fprintln(w, "|---|---|---|---|--:|--:|--:|--:|--:|")
	for _, r := range res.Rows {
		if r.Skipped != "" {
			fmt.Fprintf(w, "| %s | %s | %s | | | | | skipped: %s | |\n", r.Scenario, r.Variant, r.Metric, r.Skipped)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Scenario, r.Variant, r.Metric, r.Unit,
			fmtNum(r.Direct), fmtNum(r.Bare), fmtNum(r.Gateway), fmtRatio(r.VsBare), fmtRatio(r.VsDirect))
	}
	fmt.Fprintln(w, "\n| target | measured | limit | result |")
	fmt.Fprintln(w, "|---|--:|--:|---|")
	for _, t := range res.Targets {
		verdict := "met"
		if t.Skipped != "" {
			verdict = "skipped: " + t.Skipped
		} else if !t.Met {
			verdict = "**missed**"
		}
		op := "≥"
		if t.AtMost {
			op = "≤"
		}
		measured := "-"
		if t.Ratio >= 0 && !math.IsNaN(t.Ratio) {
			measured = fmt.Sprintf("%.2f", t.Ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %s %.2f | %s (%s) |\n", t.Name, measured, op, t.Limit, verdict, t.Note)
	}
	if len(res.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range res.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// readResult reads a result written by writeJSON.
func readResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}
