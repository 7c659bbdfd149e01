package oauth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// appleSecretTTL is the lifetime of Apple client-secret JWTs (Apple
// allows up to six months); one is reused until appleSecretRenew before it
// expires.
const (
	appleSecretTTL   = time.Hour
	appleSecretRenew = 10 * time.Minute
)

// appleSecret returns the client secret for Sign in with Apple: an ES256
// JWT (kid = key id) with iss = team id, sub = client id, aud = the
// issuer, iat and exp, regenerated before it expires.
func (s *Service) appleSecret(p *provider) (string, error) {
	now := s.opt.Now()
	p.secretMu.Lock()
	defer p.secretMu.Unlock()
	if p.secret != "" && now.Add(appleSecretRenew).Before(p.secretExp) {
		return p.secret, nil
	}
	exp := now.Add(appleSecretTTL)
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.RegisteredClaims{
		Issuer:    p.TeamID,
		Subject:   p.ClientID,
		Audience:  jwt.ClaimStrings{p.Issuer},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	})
	t.Header["kid"] = p.KeyID
	signed, err := t.SignedString(p.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("apple client secret: %w", err)
	}
	p.secret, p.secretExp = signed, exp
	return signed, nil
}
