package auth

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// benchEnv is a Service with a contributor, one API key of theirs and a
// login JWT, on SQLite, with every cache warm.
func benchEnv(b *testing.B, secret gateway.Secret) (s *Service, keys *Keys, key, jwt gateway.Secret) {
	b.Helper()
	ctx := context.Background()
	st := sqltest.SQLite(b)
	tokens, err := NewTokens(ctx, TokensOptions{Secret: secret, Keys: st, Issuer: "tollgate", Audience: "tollgate"})
	if err != nil {
		b.Fatal(err)
	}
	users := NewUserCache(st, nil, 0)
	keys = NewKeys(KeysOptions{Store: st, Users: users, Tokens: tokens})
	s = New(Options{Users: st, Cache: users, Tokens: tokens, Mode: ModeRequired, Verifiers: []Verifier{keys}, Exchange: keys, Password: cheap})
	if err := s.Init(ctx); err != nil {
		b.Fatal(err)
	}
	u, err := s.CreateUser(ctx, gateway.NewUser{Email: "c@example.com", Password: "key owner pass", Role: gateway.RoleContributor})
	if err != nil {
		b.Fatal(err)
	}
	_, key, err = keys.CreateKey(ctx, u.ID, u.Role, gateway.NewAPIKey{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	jwt, _, err = tokens.Issue(u.ID, TokenTypeAccess, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return s, keys, key, jwt
}

func benchAuthenticate(b *testing.B, s *Service, header, value string) {
	r := httptest.NewRequest("GET", "/v1/models", nil)
	r.Header.Set(header, value)
	if _, err := s.Authenticate(r); err != nil { // warm
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := s.Authenticate(r)
		if err != nil || p == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAPIKeyCached is the key cache alone: SHA-256, map
// lookup, owner from the user cache, the Principal (the one allocation,
// which the request keeps).
func BenchmarkVerifyAPIKeyCached(b *testing.B) {
	_, keys, key, _ := benchEnv(b, "")
	cred := Credential{Transport: TransportAPIKey, Value: key}
	ctx := context.Background()
	if _, err := keys.Verify(ctx, cred); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if p, err := keys.Verify(ctx, cred); err != nil || p == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateAPIKey is the whole Authenticate of a request with
// Authorization: Bearer tg_... (credential extraction included).
func BenchmarkAuthenticateAPIKey(b *testing.B) {
	s, _, key, _ := benchEnv(b, "")
	benchAuthenticate(b, s, "Authorization", "Bearer "+key.Reveal())
}

// BenchmarkAuthenticateXAPIKey is the same with X-API-Key.
func BenchmarkAuthenticateXAPIKey(b *testing.B) {
	s, _, key, _ := benchEnv(b, "")
	benchAuthenticate(b, s, "X-API-Key", key.Reveal())
}

// BenchmarkAuthenticateJWTEdDSA is a login JWT signed with the generated
// EdDSA key (no auth.jwt_secret).
func BenchmarkAuthenticateJWTEdDSA(b *testing.B) {
	s, _, _, jwt := benchEnv(b, "")
	benchAuthenticate(b, s, "Authorization", "Bearer "+jwt.Reveal())
}

// BenchmarkAuthenticateJWTHS256 is a login JWT signed with auth.jwt_secret.
func BenchmarkAuthenticateJWTHS256(b *testing.B) {
	s, _, _, jwt := benchEnv(b, "0123456789abcdef0123456789abcdef-bench")
	benchAuthenticate(b, s, "Authorization", "Bearer "+jwt.Reveal())
}
