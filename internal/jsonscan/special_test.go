package jsonscan

import (
	"encoding/binary"
	"testing"
)

// TestSpecial8 holds the word-at-a-time test to the byte table: every byte
// value at every position of an otherwise plain word.
func TestSpecial8(t *testing.T) {
	for pos := range 8 {
		for b := range 256 {
			var w [8]byte
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(b)
			if got, want := special8(binary.LittleEndian.Uint64(w[:])), !plain[b]; got != want {
				t.Fatalf("special8 with byte %#x at %d = %v, want %v", b, pos, got, want)
			}
		}
	}
	// Bytes of 0x80 and above next to each other (UTF-8) are plain.
	if special8(binary.LittleEndian.Uint64([]byte("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98"))) {
		t.Fatal("UTF-8 bytes counted as special")
	}
}
