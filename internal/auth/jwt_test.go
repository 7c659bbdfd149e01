package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/gateway"
)

// The fixed key, clock and names of the JWT tests and FuzzVerifyJWT (its
// committed corpus holds tokens signed with them).
const (
	jwtTestSecret = "fuzz-secret-0123456789-0123456789"
	jwtTestIss    = "tollgate"
	jwtTestAud    = "tollgate"
)

var jwtTestNow = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

func jwtTestTokens(t testing.TB) *Tokens {
	t.Helper()
	tk, err := NewTokens(context.Background(), TokensOptions{Secret: gateway.Secret(jwtTestSecret),
		Issuer: jwtTestIss, Audience: jwtTestAud, Now: func() time.Time { return jwtTestNow }})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// signClaims signs arbitrary claims with the test secret (HS256).
func signClaims(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(jwtTestSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validTestClaims() jwt.MapClaims {
	return jwt.MapClaims{"iss": jwtTestIss, "aud": jwtTestAud, "sub": "u1", "iat": jwtTestNow.Unix(),
		"exp": jwtTestNow.Add(time.Hour).Unix(), "jti": "j1", "typ": TokenTypeAccess}
}

func TestVerifyTimeClaims(t *testing.T) {
	tk := jwtTestTokens(t)
	at := func(d time.Duration) float64 { return float64(jwtTestNow.Add(d).UnixMicro()) / 1e6 }
	for _, tc := range []struct {
		name string
		key  string
		val  any
		code string // "" = accepted
	}{
		{"IssuedNow", "iat", at(0), ""},
		{"IssuedAtLeewayEdge", "iat", at(ClockLeeway), ""},
		{"IssuedBeyondLeeway", "iat", at(ClockLeeway + time.Millisecond), "invalid_authorization"},
		{"IssuedFarFuture", "iat", at(24 * time.Hour), "invalid_authorization"},
		{"NotBeforePast", "nbf", at(-time.Minute), ""},
		{"NotBeforeAtLeewayEdge", "nbf", jwtTestNow.Add(ClockLeeway).Unix(), ""},
		{"NotBeforeBeyondLeeway", "nbf", jwtTestNow.Add(ClockLeeway + time.Second).Unix(), "invalid_authorization"},
		{"NotBeforeFarFuture", "nbf", jwtTestNow.Add(24 * time.Hour).Unix(), "invalid_authorization"},
		{"ExpiresNowNoLeeway", "exp", jwtTestNow.Unix(), "token_expired"},
		{"ExpiredBySecond", "exp", jwtTestNow.Add(-time.Second).Unix(), "token_expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validTestClaims()
			c[tc.key] = tc.val
			_, err := tk.Verify(signClaims(t, c), TokenTypeAccess)
			if got := code(err); got != tc.code {
				t.Fatalf("Verify = %v (code %q), want code %q", err, got, tc.code)
			}
		})
	}
}

// FuzzVerifyJWT feeds arbitrary strings to the verifier: it never panics,
// and a token it accepts has the pinned algorithm, the configured iss and
// aud, an exp after now, an iat and nbf no later than now + ClockLeeway, a
// subject, a jti and an accepted typ.
func FuzzVerifyJWT(f *testing.F) {
	tk := jwtTestTokens(f)
	good := signClaims(f, validTestClaims())
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := tk.verify(tok, TokenTypeAccess, TokenTypeExchange)
		if err != nil {
			ge, ok := gateway.AsError(err)
			if !ok || ge.Kind != gateway.KindUnauthenticated || (ge.Code != "invalid_authorization" && ge.Code != "token_expired") {
				t.Fatalf("verify error = %v, want 401 invalid_authorization or token_expired", err)
			}
			if c != nil {
				t.Fatal("verify returned claims with an error")
			}
			return
		}
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d parts", len(parts))
		}
		hdr, herr := base64.RawURLEncoding.DecodeString(parts[0])
		var h struct {
			Alg string `json:"alg"`
		}
		if herr != nil || json.Unmarshal(hdr, &h) != nil || h.Alg != "HS256" {
			t.Fatalf("accepted header %q (alg %q), want the pinned HS256", hdr, h.Alg)
		}
		if c.Issuer != jwtTestIss || len(c.Audience) == 0 || !containsString(c.Audience, jwtTestAud) {
			t.Fatalf("accepted iss %q aud %v", c.Issuer, c.Audience)
		}
		if c.ExpiresAt == nil || !c.ExpiresAt.After(jwtTestNow) {
			t.Fatalf("accepted exp %v at %v", c.ExpiresAt, jwtTestNow)
		}
		latest := jwtTestNow.Add(ClockLeeway)
		if c.IssuedAt.IsZero() || c.IssuedAt.After(latest) || (c.NotBefore != nil && c.NotBefore.After(latest)) {
			t.Fatalf("accepted iat %v nbf %v at %v", c.IssuedAt, c.NotBefore, jwtTestNow)
		}
		if c.Subject == "" || c.ID == "" || (c.Type != TokenTypeAccess && c.Type != TokenTypeExchange) {
			t.Fatalf("accepted sub %q jti %q typ %q", c.Subject, c.ID, c.Type)
		}
	})
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
