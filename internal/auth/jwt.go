package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/gateway"
)

// TokenTypeAccess is the typ claim of login access tokens.
const TokenTypeAccess = "access"

// TokenTypeExchange is the typ claim of JWTs exchanged for an API key or
// static token (POST /api/auth/token); sub is "key:<id>" or
// "static:<name>".
const TokenTypeExchange = "exchange"

// Claims are the claims of a Tollgate JWT. iat carries microseconds (a
// NumericDate may be fractional, RFC 7519 section 2) so a logout watermark
// can tell a token issued just before a logout from one issued just after.
type Claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	IssuedAt  MicroDate        `json:"iat"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	// NotBefore is optional; Tollgate never sets it but honours it.
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	ID        string           `json:"jti"`
	Type      string           `json:"typ"`
}

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }

// GetIssuedAt implements jwt.Claims. It reports none: verify checks iat
// itself with ClockLeeway.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return nil, nil }

// GetNotBefore implements jwt.Claims. It reports none: verify checks nbf
// itself with ClockLeeway (the library's leeway would also extend exp).
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) { return c.Audience, nil }

// MicroDate is a NumericDate with microsecond precision on the wire.
type MicroDate struct{ time.Time }

// MarshalJSON writes seconds since the epoch with six decimals.
func (d MicroDate) MarshalJSON() ([]byte, error) {
	us := d.UnixMicro()
	return []byte(fmt.Sprintf("%d.%06d", us/1e6, us%1e6)), nil
}

// UnmarshalJSON reads a non-negative JSON number of seconds exactly (up to
// microseconds; further digits are dropped).
func (d *MicroDate) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return errors.New("iat is null")
	}
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return errors.New("iat is not a date")
	}
	if len(frac) > 6 {
		frac = frac[:6]
	}
	us := int64(0)
	if frac != "" {
		frac += strings.Repeat("0", 6-len(frac))
		if us, err = strconv.ParseInt(frac, 10, 64); err != nil || us < 0 {
			return errors.New("iat is not a date")
		}
	}
	d.Time = time.UnixMicro(sec*1e6 + us).UTC()
	return nil
}

// Tokens issues and verifies JWT access tokens with one pinned algorithm:
// HS256 with auth.jwt_secret, or EdDSA with a key kept in the database.
type Tokens struct {
	method   jwt.SigningMethod
	signKey  any
	verifKey any
	issuer   string
	audience string
	now      func() time.Time
}

// SettingStore keeps the generated EdDSA key (sqlstore.Store is one).
type SettingStore interface {
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

const ed25519Setting = "auth.jwt_ed25519_seed"

// TokensOptions configure NewTokens.
type TokensOptions struct {
	// Secret selects HS256 (at least 32 bytes; config validates it).
	Secret gateway.Secret
	// Keys stores the EdDSA key when Secret is empty.
	Keys     SettingStore
	Issuer   string
	Audience string
	Now      func() time.Time
}

// NewTokens returns the token issuer/verifier. Without a secret it loads
// the EdDSA key from Keys, generating it on first use (the first instance
// to store it wins, so every instance shares it).
func NewTokens(ctx context.Context, opt TokensOptions) (*Tokens, error) {
	t := &Tokens{issuer: opt.Issuer, audience: opt.Audience, now: opt.Now}
	if t.now == nil {
		t.now = time.Now
	}
	if opt.Secret != "" {
		if len(opt.Secret.Reveal()) < 32 {
			return nil, errors.New("auth.jwt_secret must be at least 32 bytes")
		}
		t.method, t.signKey, t.verifKey = jwt.SigningMethodHS256, []byte(opt.Secret.Reveal()), []byte(opt.Secret.Reveal())
		return t, nil
	}
	if opt.Keys == nil {
		return nil, errors.New("jwt: no secret and no key store")
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("jwt key: %w", err)
	}
	stored, err := opt.Keys.SetSettingIfAbsent(ctx, ed25519Setting, base64.StdEncoding.EncodeToString(seed))
	if err != nil {
		return nil, fmt.Errorf("jwt key: %w", err)
	}
	seed, err = base64.StdEncoding.DecodeString(stored)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("jwt key: stored EdDSA key is malformed")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	t.method, t.signKey, t.verifKey = jwt.SigningMethodEdDSA, priv, priv.Public()
	return t, nil
}

// Algorithm is the pinned signing algorithm ("HS256" or "EdDSA").
func (t *Tokens) Algorithm() string { return t.method.Alg() }

// Issue signs an access token for subject valid for ttl; it returns the
// token and its claims.
func (t *Tokens) Issue(subject, typ string, ttl time.Duration) (gateway.Secret, *Claims, error) {
	now := t.now().UTC().Truncate(time.Microsecond)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", nil, err
	}
	c := &Claims{
		Issuer: t.issuer, Subject: subject, Audience: jwt.ClaimStrings{t.audience},
		IssuedAt: MicroDate{now}, ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID: hex.EncodeToString(jti), Type: typ,
	}
	s, err := jwt.NewWithClaims(t.method, c).SignedString(t.signKey)
	if err != nil {
		return "", nil, fmt.Errorf("sign token: %w", err)
	}
	return gateway.Secret(s), c, nil
}

// ClockLeeway is how far in the future a JWT's iat or nbf may lie (clock
// skew between instances) before the token is refused. exp has none: a
// token is expired at exp exactly.
const ClockLeeway = 30 * time.Second

var (
	errInvalidToken = gateway.E(gateway.KindUnauthenticated, "invalid_authorization", "The credential is not valid")
	errExpiredToken = gateway.E(gateway.KindUnauthenticated, "token_expired", "The access token has expired")
)

// Verify checks the token's signature (pinned algorithm), iss, aud, a
// present exp, iat (not later than now + ClockLeeway), nbf if present (the
// same), jti and typ. It returns 401 token_expired for an
// expired but otherwise valid token and 401 invalid_authorization for
// anything else.
func (t *Tokens) Verify(token, typ string) (*Claims, error) { return t.verify(token, typ) }

// verify is Verify accepting any of typs.
func (t *Tokens) verify(token string, typs ...string) (*Claims, error) {
	c := &Claims{}
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return t.verifKey, nil },
		jwt.WithValidMethods([]string{t.method.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenInvalidAudience) &&
			!errors.Is(err, jwt.ErrTokenInvalidIssuer) && slices.Contains(typs, c.Type) && c.Subject != "" {
			return nil, errExpiredToken
		}
		return nil, errInvalidToken
	}
	if !slices.Contains(typs, c.Type) || c.Subject == "" || c.ID == "" || c.IssuedAt.IsZero() {
		return nil, errInvalidToken
	}
	latest := t.now().Add(ClockLeeway)
	if c.IssuedAt.After(latest) || (c.NotBefore != nil && c.NotBefore.After(latest)) {
		return nil, errInvalidToken
	}
	return c, nil
}
