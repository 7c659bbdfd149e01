package gateway

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Micros is an amount of money in millionths of the configured currency
// (pricing.currency; 1 USD = 1_000_000 Micros). It is stored as an integer
// and shown in JSON as a decimal string with six places ("1.250000"), so
// no client rounds it through a float.
type Micros int64

// String formats m as a decimal with six places.
func (m Micros) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%06d", sign, v/1_000_000, v%1_000_000)
}

// MarshalJSON writes m as a decimal string.
func (m Micros) MarshalJSON() ([]byte, error) {
	return []byte(`"` + m.String() + `"`), nil
}

// UnmarshalJSON accepts a decimal string ("1.5") or a JSON number (1.5)
// with at most six decimal places.
func (m *Micros) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	v, err := ParseMicros(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMicros parses a non-negative decimal amount with at most six
// decimal places ("1", "0.15", "12.000001").
func ParseMicros(s string) (Micros, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 6 || strings.HasPrefix(whole, "+") || strings.HasPrefix(whole, "-") {
		return 0, fmt.Errorf("invalid amount %q: want a non-negative decimal with at most 6 places", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > 9_000_000_000_000 {
		return 0, fmt.Errorf("invalid amount %q", s)
	}
	var f int64
	if frac != "" {
		f, err = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil || strings.ContainsAny(frac, "+-") {
			return 0, fmt.Errorf("invalid amount %q", s)
		}
	}
	return Micros(w*1_000_000 + f), nil
}

// Price is what a model costs, in Micros per million tokens.
type Price struct {
	Input, Output Micros
}

// Cost is the price of prompt and completion tokens, rounded to the
// nearest micro-unit (half up).
func (p Price) Cost(prompt, completion int64) Micros {
	n := prompt*int64(p.Input) + completion*int64(p.Output)
	return Micros((n + 500_000) / 1_000_000)
}

// PriceFromUnits converts a price in currency units per million tokens
// (config's input_price = 0.15) to Micros, rounded to the nearest micro.
func PriceFromUnits(units float64) Micros {
	return Micros(units*1_000_000 + 0.5)
}
