package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
)

// SetHeaders writes the rate-limit headers of SPEC section 5 for d:
//
//   - RateLimit-Policy and RateLimit in the syntax of the IETF draft
//     (draft-ietf-httpapi-ratelimit-headers): one list member per bucket
//     evaluated, `"<name>";q=<burst>;w=<seconds to refill the burst>` and
//     `"<name>";r=<remaining>;t=<seconds until full>`; token budgets carry
//     qu="tokens".
//   - X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset
//     (seconds until full) of the bucket that refused, or else of the
//     request bucket with the fewest remaining.
//   - On a refusal, Retry-After (whole seconds, at least 1) and
//     Cache-Control: no-store.
//
// A nil decision sets nothing.
func SetHeaders(h http.Header, d *Decision) {
	if d == nil || len(d.Buckets) == 0 {
		return
	}
	var pol, cur strings.Builder
	for i, b := range d.Buckets {
		if i > 0 {
			pol.WriteString(", ")
			cur.WriteString(", ")
		}
		l := b.Result.Limit
		writeName(&pol, b.Name)
		pol.WriteString(";q=")
		pol.WriteString(strconv.Itoa(l.Burst))
		pol.WriteString(";w=")
		pol.WriteString(strconv.Itoa(max(1, ceilSeconds(l.Tolerance()))))
		if b.Tokens {
			pol.WriteString(`;qu="tokens"`)
		}
		writeName(&cur, b.Name)
		cur.WriteString(";r=")
		cur.WriteString(strconv.Itoa(b.Result.Remaining))
		cur.WriteString(";t=")
		cur.WriteString(strconv.Itoa(ceilSeconds(b.Result.ResetAfter)))
	}
	h.Set("RateLimit-Policy", pol.String())
	h.Set("RateLimit", cur.String())

	main := d.headline()
	h.Set("X-RateLimit-Limit", strconv.Itoa(main.Result.Limit.Burst))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(main.Result.Remaining))
	h.Set("X-RateLimit-Reset", strconv.Itoa(ceilSeconds(main.Result.ResetAfter)))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds(d.RetryAfter)))
		h.Set("Cache-Control", "no-store")
	}
}

// headline picks the bucket the X-RateLimit-* headers describe.
func (d *Decision) headline() Bucket {
	if !d.Allowed {
		return d.Buckets[len(d.Buckets)-1]
	}
	best := -1
	for i, b := range d.Buckets {
		if b.Tokens {
			continue
		}
		if best < 0 || b.Result.Remaining < d.Buckets[best].Result.Remaining {
			best = i
		}
	}
	if best < 0 {
		best = len(d.Buckets) - 1
	}
	return d.Buckets[best]
}

// writeName writes a structured-field string, replacing any character a
// string may not hold (policy names are validated, so this is defensive).
func writeName(b *strings.Builder, name string) {
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
