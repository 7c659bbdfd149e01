// Package oauthtest holds in-process fakes of OAuth providers for tests:
// an OpenID Connect issuer (discovery, JWKS, an authorize endpoint that
// approves at once, a token endpoint with PKCE S256 and single-use codes),
// which in Apple mode checks Sign in with Apple's ES256 client-secret JWT,
// and a fake GitHub (OAuth endpoints, /user and /user/emails). Both run on
// httptest over loopback HTTP and record every code, state, nonce,
// challenge, verifier and token they see, so a test can check that none of
// them reached a log line.
package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Account is the identity the issuer signs in at its authorize endpoint.
type Account struct {
	Sub      string
	Email    string
	Verified bool
	Name     string
}

// DefaultAccount is the account of a new Issuer.
var DefaultAccount = Account{Sub: "sub-1", Email: "new@example.com", Verified: true, Name: "New Person"}

// Apple configures an Issuer in Apple mode: its token endpoint accepts
// only an ES256 client-secret JWT (kid = KeyID) with iss = TeamID, sub =
// ClientID and aud = the issuer URL, signed by Key; the authorize endpoint
// wants response_mode=form_post; ID tokens carry email_verified as the
// string "true"/"false" and no name, as Apple sends them.
type Apple struct {
	ClientID string
	TeamID   string
	KeyID    string
	Key      *ecdsa.PublicKey
}

// Issuer is a small OpenID Connect provider running in the test process,
// go-oidc compatible.
type Issuer struct {
	t      testing.TB
	srv    *httptest.Server
	key    *rsa.PrivateKey
	now    func() time.Time
	client string
	secret string // oidc client secret
	apple  *Apple

	mu       sync.Mutex
	codes    map[string]*grant // unused codes
	seen     []string          // every code, state, nonce, challenge, verifier and secret seen
	account  Account
	tamper   func(claims jwt.MapClaims) // changes the next ID tokens
	badKey   *rsa.PrivateKey            // signs ID tokens with another key when set
	tokenErr int                        // token requests refused so far
}

type grant struct {
	redirect, challenge, nonce string
	account                    Account
}

// NewIssuer starts an OpenID Connect issuer for client id
// "tollgate-client" with the client secret ClientSecret(), signing in
// DefaultAccount; now is its clock (ID token iat/exp). It stops at t's
// cleanup.
func NewIssuer(t testing.TB, now func() time.Time) *Issuer {
	return newIssuer(t, now, nil)
}

// NewAppleIssuer starts an Issuer in Apple mode (see Apple).
func NewAppleIssuer(t testing.TB, now func() time.Time, a Apple) *Issuer {
	return newIssuer(t, now, &a)
}

func newIssuer(t testing.TB, now func() time.Time, apple *Apple) *Issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{t: t, key: key, now: now, client: "tollgate-client", secret: "issuer-client-secret-0123456789",
		apple: apple, codes: map[string]*grant{}, account: DefaultAccount}
	if apple != nil {
		is.client, is.secret = apple.ClientID, ""
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /jwks", is.jwks)
	mux.HandleFunc("GET /authorize", is.authorize)
	mux.HandleFunc("POST /token", is.token)
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// URL is the issuer URL (loopback http).
func (is *Issuer) URL() string { return is.srv.URL }

// ClientID is the client id the issuer accepts.
func (is *Issuer) ClientID() string { return is.client }

// ClientSecret is the oidc client secret ("" in Apple mode).
func (is *Issuer) ClientSecret() string { return is.secret }

// SetAccount sets the account the next authorizations sign in.
func (is *Issuer) SetAccount(a Account) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.account = a
}

// SetTamper changes the claims of the next ID tokens with f (nil: none).
func (is *Issuer) SetTamper(f func(jwt.MapClaims)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.tamper = f
}

// SetSigningKey makes the next ID tokens be signed by k instead of the
// key the JWKS publishes (nil: the published key).
func (is *Issuer) SetSigningKey(k *rsa.PrivateKey) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.badKey = k
}

// Secrets returns every code, state, nonce, PKCE challenge and verifier
// and client secret the issuer has seen.
func (is *Issuer) Secrets() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string{}, is.seen...)
}

// TokenErrors counts the token requests refused so far.
func (is *Issuer) TokenErrors() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.tokenErr
}

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer": is.srv.URL, "authorization_endpoint": is.srv.URL + "/authorize",
		"token_endpoint": is.srv.URL + "/token", "jwks_uri": is.srv.URL + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	pub := is.key.PublicKey
	writeJSON(w, 200, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize approves at once: 302 to redirect_uri with code and state
// (form_post callbacks are posted by the test with the same values).
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != is.client || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorization request", 400)
		return
	}
	if is.apple != nil && q.Get("response_mode") != "form_post" {
		http.Error(w, "apple wants form_post", 400)
		return
	}
	code := b64(randomBytes(24))
	is.mu.Lock()
	is.codes[code] = &grant{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), account: is.account}
	is.seen = append(is.seen, code, q.Get("state"), q.Get("nonce"), q.Get("code_challenge"))
	is.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	v := url.Values{"code": {code}, "state": {q.Get("state")}}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (is *Issuer) refuse(w http.ResponseWriter, code string) {
	is.mu.Lock()
	is.tokenErr++
	is.mu.Unlock()
	writeJSON(w, 400, map[string]string{"error": code})
}

func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		is.refuse(w, "invalid_request")
		return
	}
	f := r.PostForm
	is.mu.Lock()
	is.seen = append(is.seen, f.Get("code_verifier"), f.Get("client_secret"))
	g, ok := is.codes[f.Get("code")]
	delete(is.codes, f.Get("code")) // single use, whatever happens next
	tamper, badKey := is.tamper, is.badKey
	is.mu.Unlock()
	if !ok || f.Get("grant_type") != "authorization_code" || f.Get("redirect_uri") != g.redirect {
		is.refuse(w, "invalid_grant")
		return
	}
	if f.Get("client_id") != is.client || !is.clientSecretOK(f.Get("client_secret")) {
		is.refuse(w, "invalid_client")
		return
	}
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if f.Get("code_verifier") == "" || b64(sum[:]) != g.challenge {
		is.refuse(w, "invalid_grant")
		return
	}
	now := is.now()
	claims := jwt.MapClaims{"iss": is.srv.URL, "aud": is.client, "sub": g.account.Sub, "iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(), "nonce": g.nonce, "email": g.account.Email, "name": g.account.Name}
	if is.apple != nil {
		delete(claims, "name") // Apple posts the name once, in the form
		claims["email_verified"] = map[bool]string{true: "true", false: "false"}[g.account.Verified]
	} else {
		claims["email_verified"] = g.account.Verified
	}
	if tamper != nil {
		tamper(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "k1"
	var signKey crypto.Signer = is.key
	if badKey != nil {
		signKey = badKey
	}
	idt, err := tok.SignedString(signKey)
	if err != nil {
		is.t.Error(err)
	}
	access := b64(randomBytes(16))
	is.mu.Lock()
	is.seen = append(is.seen, access)
	is.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
}

// clientSecretOK checks the client secret: equal for oidc; for apple an
// ES256 JWT (kid = key id) with iss = team id, sub = client id, aud = the
// issuer, not expired.
func (is *Issuer) clientSecretOK(s string) bool {
	if is.apple == nil {
		return s == is.secret
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(s, claims, func(t *jwt.Token) (any, error) { return is.apple.Key, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(is.now), jwt.WithIssuer(is.apple.TeamID),
		jwt.WithAudience(is.srv.URL), jwt.WithSubject(is.client), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return err == nil && tok.Valid && tok.Header["kid"] == is.apple.KeyID
}

// NewAppleKey returns a P-256 key like the .p8 keys Apple hands out.
func NewAppleKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// AppleKeyPEM is k as Apple's .p8 file holds it: a PEM "PRIVATE KEY"
// block (PKCS #8).
func AppleKeyPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
