package gateway

import "testing"

func TestParseChange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Change
		ok   bool
	}{
		{"key:abc", Change{ChangeKey, "abc"}, true},
		{"user:u1", Change{ChangeUser, "u1"}, true},
		{"policy:", Change{ChangePolicy, ""}, true},
		{"key:", Change{}, false},
		{"user", Change{}, false},
		{"session:x", Change{}, false},
		{"", Change{}, false},
		{"key:" + string(make([]byte, 129)), Change{}, false},
	} {
		got, ok := ParseChange(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseChange(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok {
			if back, _ := ParseChange(got.String()); back != got {
				t.Errorf("round trip of %q = %v", tc.in, back)
			}
		}
	}
}

// FuzzParseChange: any payload (a NOTIFY or pub/sub message may come from
// anything on the channel) parses or is refused without panicking, and a
// parsed change round-trips.
func FuzzParseChange(f *testing.F) {
	for _, s := range []string{"key:abc", "user:u", "policy:", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseChange(s)
		if !ok {
			return
		}
		if back, ok2 := ParseChange(c.String()); !ok2 || back != c {
			t.Fatalf("round trip of %q: %v %v", s, back, ok2)
		}
	})
}
