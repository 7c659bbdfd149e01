package main

import (
	"testing"
	"time"
)

func TestBucketOfAndRange(t *testing.T) {
	cases := []struct {
		v      int64
		bucket int
		lo, hi int64
	}{
		{0, 0, 0, 0},
		{255, 255, 255, 255},
		{256, 256, 256, 257},
		{257, 256, 256, 257},
		{511, 383, 510, 511},
		{512, 384, 512, 515},
		{1000, 506, 1000, 1003},
		{1 << 20, 1792, 1 << 20, 1<<20 + 1<<13 - 1},
	}
	for _, c := range cases {
		if got := bucketOf(c.v); got != c.bucket {
			t.Fatalf("bucketOf(%d) = %d, want %d", c.v, got, c.bucket)
		}
		lo, hi := bucketRange(c.bucket)
		if lo != c.lo || hi != c.hi {
			t.Fatalf("bucketRange(%d) = %d..%d, want %d..%d", c.bucket, lo, hi, c.lo, c.hi)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	t.Run("Empty", func(t *testing.T) {
		var h Hist
		if got := h.Quantile(0.5); got != 0 {
			t.Fatalf("Quantile(0.5) = %v, want 0", got)
		}
	})
	t.Run("ExactBelow256", func(t *testing.T) {
		var h Hist
		for v := 1; v <= 100; v++ {
			h.Record(time.Duration(v))
		}
		for _, c := range []struct {
			q    float64
			want time.Duration
		}{{0.01, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}} {
			if got := h.Quantile(c.q); got != c.want {
				t.Fatalf("Quantile(%v) = %v, want %v", c.q, got, c.want)
			}
		}
		if got, want := h.Mean(), 50*time.Nanosecond; got != want { // 50.5 truncated
			t.Fatalf("Mean = %v, want %v", got, want)
		}
	})
	t.Run("HighestEquivalentCappedAtMax", func(t *testing.T) {
		var h Hist
		h.Record(1000) // bucket 1000..1003
		h.Record(2000) // bucket 2000..2007
		if got, want := h.Quantile(0.5), time.Duration(1003); got != want {
			t.Fatalf("p50 = %v, want %v", got, want)
		}
		if got, want := h.Quantile(1), time.Duration(2000); got != want {
			t.Fatalf("p100 = %v, want %v (capped at max)", got, want)
		}
	})
	t.Run("Merge", func(t *testing.T) {
		var a, b Hist
		a.Record(10)
		b.Record(20)
		b.Record(30)
		a.Merge(&b)
		if got, want := a.Count(), uint64(3); got != want {
			t.Fatalf("Count = %d, want %d", got, want)
		}
		if got, want := a.Quantile(0.5), time.Duration(20); got != want {
			t.Fatalf("p50 = %v, want %v", got, want)
		}
	})
	t.Run("NegativeIsZero", func(t *testing.T) {
		var h Hist
		h.Record(-5)
		if got := h.Quantile(1); got != 0 {
			t.Fatalf("p100 = %v, want 0", got)
		}
	})
}

func TestQuantileNearestRank(t *testing.T) {
	vs := []time.Duration{5, 1, 4, 2, 3}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.2, 1}, {0.21, 2}, {0.5, 3}, {0.99, 5}, {1, 5}} {
		if got := quantile(vs, c.q); got != c.want {
			t.Fatalf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Fatalf("quantile(nil) = %v, want 0", got)
	}
}
