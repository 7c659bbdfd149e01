package auth

import (
	"strings"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "BEARER  x ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "", "Bearer a b", "Bearer tg_" + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseAuthorization(h)
		if !ok {
			if tok != "" {
				t.Fatalf("ParseAuthorization(%q) = %q, false; want empty token", h, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("ParseAuthorization(%q) = %q: empty or contains space", h, tok)
		}
		if !strings.EqualFold(h[:6], "bearer") || !strings.Contains(h, tok) {
			t.Fatalf("ParseAuthorization(%q) = %q: not from a bearer header", h, tok)
		}
		again, ok := ParseAuthorization("Bearer " + tok)
		if !ok || again != tok {
			t.Fatalf("round trip of %q = %q, %v", tok, again, ok)
		}
	})
}

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc", "abc", true},
		{"bEaReR  a.b-c_d~e+f/g=", "a.b-c_d~e+f/g=", true},
		{"Bearer a b", "", false},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer   ", "", false},
		{"Bearerabc", "", false},
		{"Bearer \"abc\"", "", false},
	} {
		got, ok := ParseAuthorization(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
