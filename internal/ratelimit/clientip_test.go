package ratelimit

import (
	"net/http/httptest"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"PeerWithoutHeader", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"SpoofFromUntrustedPeerIgnored", "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"TrustedPeerNoHeader", "10.0.0.1:80", nil, "10.0.0.1"},
		{"TrustedPeerOneHop", "10.0.0.1:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"RightMostUntrustedWins", "10.0.0.1:80", []string{"6.6.6.6, 198.51.100.1, 10.9.9.9, 192.0.2.1"}, "198.51.100.1"},
		{"ClientSpoofPrependedIgnored", "10.0.0.1:80", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"MultipleHeaderLinesInOrder", "10.0.0.1:80", []string{"198.51.100.1", "10.0.0.2"}, "198.51.100.1"},
		{"AllTrustedUsesLeftMost", "10.0.0.1:80", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"GarbageStopsAtReportingHop", "10.0.0.1:80", []string{"198.51.100.1, not-an-ip, 10.0.0.2"}, "10.0.0.2"},
		{"EntryWithPort", "10.0.0.1:80", []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"IPv6Peer", "[2001:db8::1]:443", []string{"1.2.3.4"}, "2001:db8::1"},
		{"IPv6TrustedChain", "[fd00::1]:443", []string{"2001:db8::7, fd00::2"}, "2001:db8::7"},
		{"IPv6BracketedEntry", "[fd00::1]:443", []string{"[2001:db8::7]:1000"}, "2001:db8::7"},
		{"MappedIPv4PeerIsTrusted", "[::ffff:10.0.0.1]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"EmptyEntriesSkipped", "10.0.0.1:80", []string{"198.51.100.1, , "}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientIP(r, trusted).String(); got != tc.want {
				t.Fatalf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("NoTrustedProxies", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:9"
		r.Header.Set("X-Forwarded-For", "1.2.3.4")
		if got := ClientIP(r, nil).String(); got != "127.0.0.1" {
			t.Fatalf("ClientIP = %s, want 127.0.0.1", got)
		}
	})
	t.Run("BadTrustedProxy", func(t *testing.T) {
		if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
			t.Fatal("want an error for 10.0.0.0/33")
		}
	})
}
