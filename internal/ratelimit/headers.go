package ratelimit

import (
	"net/http"
	"strconv"
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
//
// The values are written into one buffer and become one string, so the
// headers cost two allocations whatever the number of buckets.
func SetHeaders(h http.Header, d *Decision) {
	if d == nil || len(d.Buckets) == 0 {
		return
	}
	var ends [7]int // where each header's value ends in buf
	var arr [512]byte
	buf := arr[:0]
	for i, b := range d.Buckets {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		l := b.Result.Limit
		buf = appendName(buf, b.Name)
		buf = append(buf, ";q="...)
		buf = strconv.AppendInt(buf, int64(l.Burst), 10)
		buf = append(buf, ";w="...)
		buf = strconv.AppendInt(buf, int64(max(1, ceilSeconds(l.Tolerance()))), 10)
		if b.Tokens {
			buf = append(buf, `;qu="tokens"`...)
		}
	}
	ends[0] = len(buf)
	for i, b := range d.Buckets {
		if i > 0 {
			buf = append(buf, ", "...)
		}
		buf = appendName(buf, b.Name)
		buf = append(buf, ";r="...)
		buf = strconv.AppendInt(buf, int64(b.Result.Remaining), 10)
		buf = append(buf, ";t="...)
		buf = strconv.AppendInt(buf, int64(ceilSeconds(b.Result.ResetAfter)), 10)
	}
	ends[1] = len(buf)
	main := d.headline()
	buf = strconv.AppendInt(buf, int64(main.Result.Limit.Burst), 10)
	ends[2] = len(buf)
	buf = strconv.AppendInt(buf, int64(main.Result.Remaining), 10)
	ends[3] = len(buf)
	buf = strconv.AppendInt(buf, int64(ceilSeconds(main.Result.ResetAfter)), 10)
	ends[4] = len(buf)
	n := 5
	if !d.Allowed {
		buf = strconv.AppendInt(buf, int64(RetryAfterSeconds(d.RetryAfter)), 10)
		ends[5] = len(buf)
		buf = append(buf, "no-store"...)
		ends[6] = len(buf)
		n = 7
	}
	all := string(buf)
	vals := make([]string, n)
	from := 0
	for i := range n {
		vals[i] = all[from:ends[i]]
		h[headerNames[i]] = vals[i : i+1 : i+1]
		from = ends[i]
	}
}

// headerNames are the canonical names of SetHeaders' headers, in the
// order of their values.
var headerNames = func() (names [7]string) {
	for i, n := range []string{"RateLimit-Policy", "RateLimit", "X-RateLimit-Limit", "X-RateLimit-Remaining",
		"X-RateLimit-Reset", "Retry-After", "Cache-Control"} {
		names[i] = http.CanonicalHeaderKey(n)
	}
	return names
}()

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

// appendName appends a structured-field string, replacing any character
// a string may not hold (policy names are validated, so this is
// defensive).
func appendName(b []byte, name string) []byte {
	b = append(b, '"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '_')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
