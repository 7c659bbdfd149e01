package jsonscan

import (
	"encoding/binary"
	"encoding/json"
	"strings"
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

// TestLongStrings holds the long-run scan (longRun, controlIndex) to
// encoding/json.Valid: strings longer than the 32 bytes scanned word by
// word, with a quote, an escape (good or bad), a control character or the
// end of input at every position, alone and after earlier escapes (the
// cached quote position).
func TestLongStrings(t *testing.T) {
	inserts := []string{`"`, `\"`, `\\`, `\n`, `\u00e9`, `\u00zz`, `\x`, `\`, "\x00", "\x1f", "\x7f", "\xff", "é"}
	for _, n := range []int{31, 32, 33, 40, 63, 64, 65, 100, 200} {
		for pos := 0; pos <= n; pos++ {
			for _, ins := range inserts {
				for _, prefix := range []string{"", `\"`, strings.Repeat(`\n`, 20)} {
					plainText := strings.Repeat("a", n)
					str := `"` + prefix + plainText[:pos] + ins + plainText[pos:] + `"`
					for _, doc := range []string{str, `{"k":` + str + `}`, str[:len(str)-1]} {
						err := Check([]byte(doc), Options{})
						if got, want := err == nil, json.Valid([]byte(doc)); got != want {
							t.Fatalf("Check(%q) = %v, json.Valid = %v", doc, err, want)
						}
					}
				}
			}
		}
	}
}
