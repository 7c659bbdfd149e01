package ratelimit

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: whatever the peer address, X-Forwarded-For values and
// trusted proxies, ClientIP never panics and returns either the parsed
// peer or an address that appears in the X-Forwarded-For list; it is
// valid whenever the peer is, and unmapped without a zone.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:443", "203.0.113.7, 10.0.0.2", "", "10.0.0.0/8")
	f.Add("[::ffff:10.0.0.1]:1", "[2001:db8::1]:80,  ,10.1.1.1", "198.51.100.1", "10.0.0.0/8,::ffff:0:0/96")
	f.Add("192.0.2.1:1", "fe80::1%eth0, x", "1.1.1.1", "192.0.2.1")
	f.Add("garbage", "1.2.3.4", "", "0.0.0.0/0")
	f.Fuzz(func(t *testing.T, remote, xff1, xff2, trustedList string) {
		var trusted []netip.Prefix
		for _, s := range strings.Split(trustedList, ",") {
			if p, err := netip.ParsePrefix(strings.TrimSpace(s)); err == nil {
				trusted = append(trusted, p.Masked())
			} else if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
				trusted = append(trusted, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				r.Header.Add("X-Forwarded-For", v)
			}
		}
		got := ClientIP(r, trusted)
		peer := parseHost(remote)
		if got == peer {
			return
		}
		if !peer.IsValid() {
			t.Fatalf("ClientIP = %v for an unusable peer %q, want the zero Addr", got, remote)
		}
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("ClientIP = %v, want a valid, unmapped address without a zone", got)
		}
		for _, v := range []string{xff1, xff2} {
			for _, e := range strings.Split(v, ",") {
				if parseHost(strings.TrimSpace(e)) == got {
					return
				}
			}
		}
		t.Fatalf("ClientIP = %v: neither the peer %v nor an X-Forwarded-For entry of %q, %q", got, peer, xff1, xff2)
	})
}
