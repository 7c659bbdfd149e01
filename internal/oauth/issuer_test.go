package oauth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testIssuer is a small OpenID Connect provider running in the test
// process (discovery, JWKS, an authorize endpoint that approves at once,
// a token endpoint with PKCE S256 and single-use codes), go-oidc
// compatible. In apple mode its token endpoint accepts only an ES256
// client-secret JWT made from the team id, key id and key it was given,
// and email_verified is the string "true", as Apple sends it.
type testIssuer struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	now    func() time.Time
	client string
	secret string // oidc client secret

	// apple mode: the client secret must be a JWT signed by appleKey.
	apple    bool
	appleKey *ecdsa.PublicKey
	teamID   string
	keyID    string

	mu       sync.Mutex
	codes    map[string]*grant // unused codes
	used     map[string]bool
	seen     []string // every code, state, nonce, challenge and verifier seen (the log check)
	account  idAccount
	tamper   func(claims jwt.MapClaims) // changes the next ID tokens
	badKey   *rsa.PrivateKey            // signs ID tokens with another key when set
	tokenErr int                        // token requests refused so far
}

type idAccount struct {
	Sub      string
	Email    string
	Verified bool
	Name     string
}

type grant struct {
	redirect, challenge, nonce string
	account                    idAccount
}

func newTestIssuer(t *testing.T, now func() time.Time) *testIssuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{t: t, key: key, now: now, client: "tollgate-client", secret: "issuer-client-secret-0123456789",
		codes: map[string]*grant{}, used: map[string]bool{},
		account: idAccount{Sub: "sub-1", Email: "new@example.com", Verified: true, Name: "New Person"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /jwks", is.jwks)
	mux.HandleFunc("GET /authorize", is.authorize)
	mux.HandleFunc("POST /token", is.token)
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *testIssuer) URL() string { return is.srv.URL }

func (is *testIssuer) setAccount(a idAccount) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.account = a
}

func (is *testIssuer) setTamper(f func(jwt.MapClaims)) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.tamper = f
}

func (is *testIssuer) secrets() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string{}, is.seen...)
}

func (is *testIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{
		"issuer": is.srv.URL, "authorization_endpoint": is.srv.URL + "/authorize",
		"token_endpoint": is.srv.URL + "/token", "jwks_uri": is.srv.URL + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (is *testIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	pub := is.key.PublicKey
	writeJSON(w, 200, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize approves at once: 302 to redirect_uri with code and state
// (form_post callbacks are posted by the test with the same values).
func (is *testIssuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != is.client || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		http.Error(w, "bad authorization request", 400)
		return
	}
	if is.apple && q.Get("response_mode") != "form_post" {
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

func (is *testIssuer) refuse(w http.ResponseWriter, code string) {
	is.mu.Lock()
	is.tokenErr++
	is.mu.Unlock()
	writeJSON(w, 400, map[string]string{"error": code})
}

func (is *testIssuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		is.refuse(w, "invalid_request")
		return
	}
	f := r.PostForm
	is.mu.Lock()
	is.seen = append(is.seen, f.Get("code_verifier"), f.Get("client_secret"))
	g, ok := is.codes[f.Get("code")]
	delete(is.codes, f.Get("code")) // single use, whatever happens next
	is.used[f.Get("code")] = true
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
	if is.apple {
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
	writeJSON(w, 200, map[string]any{"access_token": b64(randomBytes(16)), "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
}

// clientSecretOK checks the client secret: equal for oidc; for apple an
// ES256 JWT (kid = key id) with iss = team id, sub = client id, aud = the
// issuer, not expired.
func (is *testIssuer) clientSecretOK(s string) bool {
	if !is.apple {
		return s == is.secret
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(s, claims, func(t *jwt.Token) (any, error) { return is.appleKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(is.now), jwt.WithIssuer(is.teamID),
		jwt.WithAudience(is.srv.URL), jwt.WithSubject(is.client), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return err == nil && tok.Valid && tok.Header["kid"] == is.keyID
}

// newAppleKey returns a P-256 key like the .p8 keys Apple hands out.
func newAppleKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
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

// fakeGitHub serves GitHub's OAuth endpoints and the /user and
// /user/emails API.
type fakeGitHub struct {
	srv    *httptest.Server
	client string
	secret string

	mu     sync.Mutex
	codes  map[string]string // code → PKCE challenge
	tokens map[string]bool
	seen   []string
	userID int64
	emails []map[string]any
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	gh := &fakeGitHub{client: "gh-client", secret: "gh-client-secret-0123456789", codes: map[string]string{}, tokens: map[string]bool{},
		userID: 4242, emails: []map[string]any{{"email": "octo@example.com", "primary": true, "verified": true}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != gh.client || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
			http.Error(w, "bad request", 400)
			return
		}
		code := b64(randomBytes(10))
		gh.mu.Lock()
		gh.codes[code] = q.Get("code_challenge")
		gh.seen = append(gh.seen, code, q.Get("state"))
		gh.mu.Unlock()
		u, _ := url.Parse(q.Get("redirect_uri"))
		u.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		gh.mu.Lock()
		defer gh.mu.Unlock()
		gh.seen = append(gh.seen, f.Get("code_verifier"))
		ch, ok := gh.codes[f.Get("code")]
		delete(gh.codes, f.Get("code"))
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if !ok || f.Get("client_id") != gh.client || f.Get("client_secret") != gh.secret || b64(sum[:]) != ch {
			writeJSON(w, 400, map[string]string{"error": "bad_verification_code"})
			return
		}
		tok := b64(randomBytes(20))
		gh.tokens[tok] = true
		gh.seen = append(gh.seen, tok)
		writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "scope": "read:user,user:email"})
	})
	authed := func(r *http.Request) bool {
		gh.mu.Lock()
		defer gh.mu.Unlock()
		tok, ok := bearer(r)
		return ok && gh.tokens[tok]
	}
	mux.HandleFunc("GET /api/user", func(w http.ResponseWriter, r *http.Request) {
		if !authed(r) {
			writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
			return
		}
		gh.mu.Lock()
		defer gh.mu.Unlock()
		writeJSON(w, 200, map[string]any{"id": gh.userID, "login": "octocat", "name": "The Octocat", "email": nil})
	})
	mux.HandleFunc("GET /api/user/emails", func(w http.ResponseWriter, r *http.Request) {
		if !authed(r) {
			writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
			return
		}
		gh.mu.Lock()
		defer gh.mu.Unlock()
		writeJSON(w, 200, gh.emails)
	})
	gh.srv = httptest.NewServer(mux)
	t.Cleanup(gh.srv.Close)
	return gh
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer ") {
		return h[7:], true
	}
	return "", false
}
