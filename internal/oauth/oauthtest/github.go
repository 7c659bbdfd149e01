package oauthtest

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// Email is one entry of GitHub's /user/emails.
type Email struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// GitHub is a fake GitHub: the OAuth endpoints (authorize approves at
// once; the token endpoint checks the client secret and PKCE S256 and
// spends the code) and the /user and /user/emails API under APIURL.
type GitHub struct {
	srv    *httptest.Server
	client string
	secret string

	mu     sync.Mutex
	codes  map[string]string // code → PKCE challenge
	tokens map[string]bool
	seen   []string
	userID int64
	emails []Email
}

// NewGitHub starts a fake GitHub for client id "gh-client" and
// ClientSecret(), whose user is id 4242 "The Octocat" with the verified
// primary email octo@example.com. It stops at t's cleanup.
func NewGitHub(t testing.TB) *GitHub {
	gh := &GitHub{client: "gh-client", secret: "gh-client-secret-0123456789", codes: map[string]string{}, tokens: map[string]bool{},
		userID: 4242, emails: []Email{{Email: "octo@example.com", Primary: true, Verified: true}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", gh.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", gh.token)
	mux.HandleFunc("GET /api/user", func(w http.ResponseWriter, r *http.Request) {
		if !gh.authed(r) {
			writeJSON(w, 401, map[string]string{"message": "Bad credentials"})
			return
		}
		gh.mu.Lock()
		defer gh.mu.Unlock()
		writeJSON(w, 200, map[string]any{"id": gh.userID, "login": "octocat", "name": "The Octocat", "email": nil})
	})
	mux.HandleFunc("GET /api/user/emails", func(w http.ResponseWriter, r *http.Request) {
		if !gh.authed(r) {
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

// ClientID is the OAuth app's client id.
func (gh *GitHub) ClientID() string { return gh.client }

// ClientSecret is the OAuth app's client secret.
func (gh *GitHub) ClientSecret() string { return gh.secret }

// Endpoint is the fake's OAuth endpoints (oauth.Provider.Endpoint).
func (gh *GitHub) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: gh.srv.URL + "/login/oauth/authorize",
		TokenURL: gh.srv.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}
}

// APIURL is the fake's API base (oauth.Provider.APIURL).
func (gh *GitHub) APIURL() string { return gh.srv.URL + "/api" }

// SetEmails replaces the user's emails.
func (gh *GitHub) SetEmails(emails ...Email) {
	gh.mu.Lock()
	defer gh.mu.Unlock()
	gh.emails = emails
}

// SetUserID replaces the user's numeric id (the subject).
func (gh *GitHub) SetUserID(id int64) {
	gh.mu.Lock()
	defer gh.mu.Unlock()
	gh.userID = id
}

// Secrets returns every code, state, verifier and access token seen.
func (gh *GitHub) Secrets() []string {
	gh.mu.Lock()
	defer gh.mu.Unlock()
	return append([]string{}, gh.seen...)
}

func (gh *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
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
}

func (gh *GitHub) token(w http.ResponseWriter, r *http.Request) {
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
}

func (gh *GitHub) authed(r *http.Request) bool {
	gh.mu.Lock()
	defer gh.mu.Unlock()
	tok, ok := bearer(r)
	return ok && gh.tokens[tok]
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer ") {
		return h[7:], true
	}
	return "", false
}
