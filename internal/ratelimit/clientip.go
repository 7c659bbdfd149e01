package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses the trusted proxies (addresses or CIDR
// prefixes, as in server.trusted_proxies); the error names the bad entry.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		p, err := parsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", e)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parsePrefix parses an IP address (a prefix of its full length) or a CIDR
// prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ClientIP returns the client address of r: the socket peer, unless the
// peer is a trusted proxy, in which case X-Forwarded-For is read from the
// right and the first entry that is not itself a trusted proxy wins. An
// X-Forwarded-For from an untrusted peer is ignored entirely, so clients
// cannot choose their own bucket. If every entry is trusted the left-most
// one is used; an unparseable entry stops the walk at the hop that
// reported it. IPv4-mapped IPv6 addresses are unmapped and zones dropped.
// The zero Addr means RemoteAddr was unusable.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	hop := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			var entry string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				entry, v = v, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a := parseHost(entry)
			if !a.IsValid() {
				return hop
			}
			if !isTrusted(a, trusted) {
				return a
			}
			hop = a
		}
	}
	return hop
}

// parseHost parses "addr", "addr:port", "[v6]:port" or "[v6]".
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalize(ap.Addr())
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil {
		return normalize(a)
	}
	return netip.Addr{}
}

func normalize(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
