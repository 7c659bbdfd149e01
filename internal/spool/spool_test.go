package spool_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/spool"
)

func payloads(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("x"), i))))
	}
	return out
}

func appendAll(t *testing.T, s *spool.Spool, ps [][]byte) uint64 {
	t.Helper()
	var seq uint64
	for _, p := range ps {
		got, err := s.Append(p)
		if err != nil {
			t.Fatal(err)
		}
		seq = got
	}
	return seq
}

// TestSpoolRoundTripAndReopen: records appended to a segment read back in
// order; a second Open (the next start) lists the segment as old and
// appends to a new one.
func TestSpoolRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, old, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 0 {
		t.Fatalf("old segments of an empty dir = %v", old)
	}
	want := payloads(20)
	seq := appendAll(t, s, want)
	if cur, n := s.Current(); cur != seq || n != 20 {
		t.Fatalf("Current = %d,%d, want %d,20", cur, n, seq)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	got, torn, err := s.ReadSegment(seq)
	if err != nil || torn {
		t.Fatalf("ReadSegment: torn=%v err=%v", torn, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("payloads (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, old, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{seq}, old); diff != "" {
		t.Fatalf("old segments (-want +got):\n%s", diff)
	}
	if cur, n := s2.Current(); cur != seq+1 || n != 0 {
		t.Fatalf("new run's segment = %d,%d, want %d,0", cur, n, seq+1)
	}
	if err := s2.Remove(seq); err != nil {
		t.Fatal(err)
	}
	if _, old, _ := spool.Open(dir); len(old) != 0 {
		t.Fatalf("segments after Remove = %v", old)
	}
}

// TestSpoolRotate: Rotate closes the segment with its count; the next
// Append goes to a new segment; an empty current segment leaves no file.
func TestSpoolRotate(t *testing.T) {
	dir := t.TempDir()
	s, _, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := appendAll(t, s, payloads(3))
	seq, n, err := s.Rotate()
	if err != nil || seq != first || n != 3 {
		t.Fatalf("Rotate = %d,%d,%v, want %d,3,nil", seq, n, err, first)
	}
	second := appendAll(t, s, payloads(1))
	if second != first+1 {
		t.Fatalf("segment after Rotate = %d, want %d", second, first+1)
	}
	if _, _, err := s.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // the empty third segment
		t.Fatal(err)
	}
	_, old, _ := spool.Open(dir)
	if diff := cmp.Diff([]uint64{first, second}, old); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	if _, err := s.Append(make([]byte, spool.MaxRecord+1)); err != spool.ErrTooLarge {
		t.Fatalf("oversized Append = %v, want ErrTooLarge", err)
	}
}

// TestSpoolTornTail: a segment cut at any byte (a crash mid-write) or with
// a flipped byte yields exactly the whole frames before the damage.
func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	s, _, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := payloads(5)
	seq := appendAll(t, s, want)
	_ = s.Close()
	data, err := os.ReadFile(s.Path(seq))
	if err != nil {
		t.Fatal(err)
	}
	var ends []int // byte offset after each frame
	off := 0
	for _, p := range want {
		off += 8 + len(p)
		ends = append(ends, off)
	}
	for cut := 0; cut <= len(data); cut++ {
		whole := 0
		for whole < len(ends) && ends[whole] <= cut {
			whole++
		}
		got, used := spool.Decode(data[:cut])
		if len(got) != whole || (whole > 0 && used != ends[whole-1]) || (whole == 0 && used != 0) {
			t.Fatalf("cut at %d: %d records using %d bytes, want %d", cut, len(got), used, whole)
		}
	}
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		frame := 0
		for ends[frame] <= i {
			frame++
		}
		got, _ := spool.Decode(bad)
		if len(got) != frame {
			t.Fatalf("byte %d flipped: %d records, want the %d before it", i, len(got), frame)
		}
	}
	if err := os.WriteFile(s.Path(seq), data[:len(data)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	got, torn, err := s.ReadSegment(seq)
	if err != nil || !torn || len(got) != 4 {
		t.Fatalf("ReadSegment of a torn file = %d records, torn=%v, err=%v; want 4, true, nil", len(got), torn, err)
	}
}

// FuzzDecode: any bytes decode without panicking, the used prefix
// re-encodes to itself, and decoding is stable under appended garbage.
func FuzzDecode(f *testing.F) {
	dir := f.TempDir()
	s, _, err := spool.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	seq := uint64(0)
	for _, p := range payloads(3) {
		seq, _ = s.Append(p)
	}
	_ = s.Close()
	seed, _ := os.ReadFile(s.Path(seq))
	f.Add(seed)
	f.Add(seed[:len(seed)-1])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, used := spool.Decode(data)
		if used < 0 || used > len(data) {
			t.Fatalf("used = %d of %d bytes", used, len(data))
		}
		total := 0
		for _, p := range got {
			if len(p) > spool.MaxRecord {
				t.Fatalf("payload of %d bytes", len(p))
			}
			total += 8 + len(p)
		}
		if total != used {
			t.Fatalf("frames use %d bytes, Decode says %d", total, used)
		}
		again, used2 := spool.Decode(append(bytes.Clone(data[:used]), 1, 2, 3))
		if used2 != used || len(again) != len(got) {
			t.Fatalf("prefix re-decoded to %d records/%d bytes, want %d/%d", len(again), used2, len(got), used)
		}
	})
}
