package main

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// Hist is an HDR-style log-linear latency histogram in nanoseconds: values
// below 256 ns are exact, larger values fall in buckets 1/128 of their power
// of two wide (under 0.8% relative error). The zero Hist is empty and ready.
type Hist struct {
	counts []uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

// subBits sets the precision: 2^subBits buckets per power of two.
const subBits = 7

// maxValue is the largest recorded value (about 18 minutes); larger ones
// are clamped.
const maxValue = int64(1) << 40

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	shift := max(0, bits.Len64(uint64(v))-(subBits+1))
	return (1<<subBits)*shift + int(uint64(v)>>shift)
}

// bucketRange returns the lowest and highest values that fall in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2<<subBits {
		return int64(i), int64(i)
	}
	shift := i/(1<<subBits) - 1
	mant := int64(i - (1<<subBits)*shift)
	lo = mant << shift
	return lo, lo + (int64(1) << shift) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Hist) Record(d time.Duration) {
	v := min(max(int64(d), 0), maxValue)
	i := bucketOf(v)
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Hist) Merge(o *Hist) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns the number of recorded values.
func (h *Hist) Count() uint64 { return h.n }

// Mean returns the mean of the recorded values, 0 when empty.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the nearest-rank q-quantile (0 < q <= 1): the highest
// value equivalent to the bucket holding the ceil(q*n)-th smallest value,
// capped at the largest value recorded. It returns 0 when empty.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := rankOf(q, int(h.n))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= uint64(rank) {
			_, hi := bucketRange(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// rankOf is the 1-based nearest rank of quantile q among n values.
func rankOf(q float64, n int) int {
	r := int(math.Ceil(q * float64(n)))
	return min(max(r, 1), n)
}

// quantile returns the nearest-rank q-quantile of vs (which it sorts in
// place), 0 when empty.
func quantile(vs []time.Duration, q float64) time.Duration {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[rankOf(q, len(vs))-1]
}
