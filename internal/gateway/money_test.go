package gateway

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMicros(t *testing.T) {
	for _, tc := range []struct {
		m    Micros
		want string
	}{{0, "0.000000"}, {1, "0.000001"}, {1_250_000, "1.250000"}, {-5, "-0.000005"}} {
		b, _ := json.Marshal(tc.m)
		if got, want := string(b), `"`+tc.want+`"`; got != want {
			t.Errorf("Marshal(%d) = %s, want %s", tc.m, got, want)
		}
	}
	for in, want := range map[string]Micros{`"1"`: 1_000_000, `"0.15"`: 150_000, `1.5`: 1_500_000, `"12.000001"`: 12_000_001, `0`: 0} {
		var m Micros
		if err := json.Unmarshal([]byte(in), &m); err != nil || m != want {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d", in, m, err, want)
		}
	}
	for _, in := range []string{`"-1"`, `"1.0000001"`, `"x"`, `"1.-5"`, `""`, `"+1"`, `-0.5`} {
		var m Micros
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("Unmarshal(%s) = %d, want error", in, m)
		}
	}
}

func TestPriceCost(t *testing.T) {
	p := Price{Input: PriceFromUnits(0.15), Output: PriceFromUnits(0.60)}
	if p.Input != 150_000 || p.Output != 600_000 {
		t.Fatalf("price = %+v", p)
	}
	// 1000 prompt tokens at 0.15/M = 150 micros; 500 completion at 0.60/M = 300.
	if got, want := p.Cost(1000, 500), Micros(450); got != want {
		t.Fatalf("Cost = %d, want %d", got, want)
	}
	// Rounded half up: 3 tokens at 0.15/M = 0.45 micros -> 0; 4 -> 0.6 -> 1.
	if got := p.Cost(3, 0); got != 0 {
		t.Fatalf("Cost(3) = %d, want 0", got)
	}
	if got := p.Cost(4, 0); got != 1 {
		t.Fatalf("Cost(4) = %d, want 1", got)
	}
}

func TestBudgetPeriodBounds(t *testing.T) {
	at := time.Date(2026, 12, 2, 15, 4, 5, 0, time.FixedZone("x", 3600)) // Wednesday, 14:04 UTC
	for _, tc := range []struct {
		p          BudgetPeriod
		start, end time.Time
	}{
		{PeriodDay, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)},
		{PeriodWeek, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)},
		{PeriodMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{PeriodTotal, TotalPeriodStart, time.Time{}},
	} {
		s, e := tc.p.Bounds(at)
		if !s.Equal(tc.start) || !e.Equal(tc.end) {
			t.Errorf("%s bounds = %v, %v; want %v, %v", tc.p, s, e, tc.start, tc.end)
		}
	}
	// A Monday and a Sunday belong to the week starting that Monday.
	mon := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, d := range []time.Time{mon, mon.Add(7*24*time.Hour - time.Nanosecond)} {
		if s, _ := PeriodWeek.Bounds(d); !s.Equal(mon) {
			t.Errorf("week of %v starts %v, want %v", d, s, mon)
		}
	}
}
