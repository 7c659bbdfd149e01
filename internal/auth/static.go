package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/tollgate/tollgate/internal/gateway"
)

// StaticToken is a token from config (SPEC 2.4) with its secret resolved.
type StaticToken struct {
	Name        string
	Secret      gateway.Secret
	Role        gateway.Role
	EndUserMode bool
}

type staticEntry struct {
	tok  StaticToken
	hash [32]byte
}

// StaticTokens verifies the static tokens of config. The set is replaced
// atomically by Load (SIGHUP), so requests in flight are not disturbed.
type StaticTokens struct {
	set atomic.Pointer[[]staticEntry]
}

// NewStaticTokens returns a verifier of toks.
func NewStaticTokens(toks []StaticToken) (*StaticTokens, error) {
	s := &StaticTokens{}
	return s, s.Load(toks)
}

// Load replaces the configured tokens; on error (an empty secret, one
// starting with tg_, a duplicate name or secret) the previous set stays.
func (s *StaticTokens) Load(toks []StaticToken) error {
	set := make([]staticEntry, 0, len(toks))
	names := map[string]bool{}
	hashes := map[[32]byte]bool{}
	for _, t := range toks {
		if t.Secret == "" {
			return fmt.Errorf("static token %q: empty secret", t.Name)
		}
		if strings.HasPrefix(t.Secret.Reveal(), KeyPrefix) {
			return fmt.Errorf("static token %q: the secret must not start with %q (that is an API key's prefix)", t.Name, KeyPrefix)
		}
		h := sha256.Sum256([]byte(t.Secret.Reveal()))
		if names[t.Name] || hashes[h] {
			return fmt.Errorf("static token %q: duplicate name or secret", t.Name)
		}
		names[t.Name], hashes[h] = true, true
		set = append(set, staticEntry{tok: t, hash: h})
	}
	s.set.Store(&set)
	return nil
}

// Len returns the number of configured tokens.
func (s *StaticTokens) Len() int { return len(*s.set.Load()) }

// Verify implements Verifier: a credential equal to a configured token
// (compared in constant time over SHA-256 digests, every token checked)
// is that token's principal; anything else is (nil, nil).
func (s *StaticTokens) Verify(_ context.Context, cred Credential) (*gateway.Principal, error) {
	set := *s.set.Load()
	if len(set) == 0 || cred.Transport == TransportSession {
		return nil, nil
	}
	h := sha256.Sum256([]byte(cred.Value.Reveal()))
	found := -1
	for i := range set {
		if subtle.ConstantTimeCompare(h[:], set[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, nil
	}
	return staticPrincipal(set[found].tok), nil
}

func staticPrincipal(t StaticToken) *gateway.Principal {
	return &gateway.Principal{Kind: gateway.PrincipalStatic, StaticName: t.Name, DisplayName: t.Name, Role: t.Role, EndUserMode: t.EndUserMode}
}

// byName returns the configured token name (for exchanged JWTs).
func (s *StaticTokens) byName(name string) (StaticToken, bool) {
	for _, e := range *s.set.Load() {
		if e.tok.Name == name {
			return e.tok, true
		}
	}
	return StaticToken{}, false
}
