package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/internal/gateway"
)

// failure is a flow error: Code is what the login page gets
// (?error=<code>), Err the logged cause (never a code, state, verifier or
// secret).
type failure struct {
	Code string
	Err  error
}

func (f *failure) Error() string {
	if f.Err == nil {
		return f.Code
	}
	return f.Code + ": " + f.Err.Error()
}

func fail(code string, err error) *failure { return &failure{Code: code, Err: err} }

// The error codes the login page receives.
const (
	ErrUnknownProvider      = "unknown_provider"      // no such provider
	ErrInvalidState         = "invalid_state"         // no, expired or mismatched binding (another browser, replay, forgery)
	ErrAccessDenied         = "access_denied"         // the user declined at the provider
	ErrProviderError        = "provider_error"        // the provider answered the authorization with another error
	ErrProviderUnavailable  = "provider_unavailable"  // discovery, token or API call failed
	ErrExchangeFailed       = "exchange_failed"       // the provider refused the code (reused, wrong verifier)
	ErrInvalidIDToken       = "invalid_id_token"      // signature, issuer, audience, expiry or nonce
	ErrEmailNotVerified     = "email_not_verified"    // registration needs a verified email
	ErrRegistrationDisabled = "registration_disabled" // auto_register off (or setup not done)
	ErrEmailDomain          = "email_domain_not_allowed"
	ErrEmailTaken           = "email_taken"      // a user has the email: sign in, then link
	ErrIdentityInUse        = "identity_in_use"  // linking an identity that is another user's
	ErrAccountDisabled      = "account_disabled" // the linked user is deactivated
	ErrLoginRequired        = "login_required"   // ?link=1 without being signed in
	ErrInvalidRequest       = "invalid_request"  // wrong method for the provider, missing code
	ErrServerError          = "server_error"     // store or session failure
)

// Start is GET /api/auth/oauth/{name}: it sets the binding cookie and
// redirects (302) to the provider. Errors redirect to the login page; it
// always returns nil.
func (s *Service) Start(w http.ResponseWriter, r *http.Request) error {
	p := s.providers[r.PathValue("name")]
	if p == nil {
		return s.fail(w, r, "", fail(ErrUnknownProvider, nil))
	}
	b := binding{Provider: p.Name, State: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Expires: s.opt.Now().Add(s.opt.BindingTTL).Unix()}
	if r.URL.Query().Get("link") == "1" {
		u, ok := s.opt.SignIn.CurrentUser(r)
		if !ok {
			return s.fail(w, r, p.Name, fail(ErrLoginRequired, nil))
		}
		b.LinkUser = u.ID
	}
	cfg, ferr := s.config(r.Context(), p)
	if ferr != nil {
		return s.fail(w, r, p.Name, ferr)
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(b.Verifier)}
	if p.Type != TypeGitHub {
		b.Nonce = randomToken()
		opts = append(opts, oauth2.SetAuthURLParam("nonce", b.Nonce))
	}
	if p.Type == TypeApple {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	sealed, err := s.seal.seal(b)
	if err != nil {
		return s.fail(w, r, p.Name, fail(ErrServerError, err))
	}
	http.SetCookie(w, s.bindingCookie(p, sealed, int(s.opt.BindingTTL/time.Second)))
	http.Redirect(w, r, cfg.AuthCodeURL(b.State, opts...), http.StatusFound)
	return nil
}

// bindingCookie is the binding cookie for p. It is HttpOnly and scoped to
// the OAuth routes. SameSite=Lax lets the top-level GET redirect back from
// the provider carry it; Apple answers with a cross-site form POST, which
// a Lax cookie does not follow, so Apple's cookie is SameSite=None (and
// therefore Secure): state, nonce and the sealed value keep it bound.
func (s *Service) bindingCookie(p *provider, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{Name: BindingCookie, Value: value, Path: bindingPath, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(s.opt.PublicURL, "https://")}
	if p != nil && p.Type == TypeApple {
		c.SameSite, c.Secure = http.SameSiteNoneMode, true
	}
	if maxAge < 0 {
		c.Value = ""
	}
	return c
}

// Callback is GET (POST for apple) /api/auth/oauth/{name}/callback: it
// checks the binding, exchanges the code, identifies the account, links
// or registers it, signs in and redirects to "/". Errors redirect to the
// login page; it always returns nil.
func (s *Service) Callback(w http.ResponseWriter, r *http.Request) error {
	p := s.providers[r.PathValue("name")]
	if p == nil {
		return s.fail(w, r, "", fail(ErrUnknownProvider, nil))
	}
	// The binding is single-use on this browser whatever happens next.
	http.SetCookie(w, s.bindingCookie(p, "", -1))
	if (p.Type == TypeApple) != (r.Method == http.MethodPost) {
		return s.fail(w, r, p.Name, fail(ErrInvalidRequest, errors.New("callback method does not match the provider type")))
	}
	if err := r.ParseForm(); err != nil {
		return s.fail(w, r, p.Name, fail(ErrInvalidRequest, errors.New("unreadable callback parameters")))
	}
	form := r.Form
	if p.Type == TypeApple {
		form = r.PostForm // never trust query parameters on a form_post callback
	}
	b, ferr := s.checkBinding(r, p, form.Get("state"))
	if ferr != nil {
		return s.fail(w, r, p.Name, ferr)
	}
	if e := form.Get("error"); e != "" {
		if e == "access_denied" || e == "user_cancelled_authorize" {
			return s.fail(w, r, p.Name, fail(ErrAccessDenied, nil))
		}
		return s.fail(w, r, p.Name, fail(ErrProviderError, errors.New("provider error "+safeParam(e))))
	}
	code := form.Get("code")
	if code == "" {
		return s.fail(w, r, p.Name, fail(ErrInvalidRequest, errors.New("callback without a code")))
	}
	acct, ferr := s.identify(r.Context(), p, code, b)
	if ferr != nil {
		return s.fail(w, r, p.Name, ferr)
	}
	if p.Type == TypeApple && acct.Name == "" {
		acct.Name = appleUserName(form.Get("user"))
	}
	if b.LinkUser != "" {
		if cur, ok := s.opt.SignIn.CurrentUser(r); ok && cur.ID != b.LinkUser {
			return s.fail(w, r, p.Name, fail(ErrLoginRequired, errors.New("signed-in user changed during linking")))
		}
		if ferr := s.link(r.Context(), p, acct, b.LinkUser); ferr != nil {
			return s.fail(w, r, p.Name, ferr)
		}
		s.opt.Log.InfoContext(r.Context(), "oauth identity linked", "provider", p.Name, "user_id", b.LinkUser)
		http.Redirect(w, r, "/", http.StatusFound)
		return nil
	}
	u, ferr := s.account(r.Context(), p, acct)
	if ferr != nil {
		return s.fail(w, r, p.Name, ferr)
	}
	rec := &writeTracker{ResponseWriter: w}
	if err := s.auditor().Change(r.Context(), func(ctx context.Context) ([]gateway.AuditEvent, error) {
		if err := s.opt.SignIn.StartSession(ctx, rec, r, u); err != nil {
			return nil, err
		}
		return []gateway.AuditEvent{{Action: gateway.AuditOAuthLogin, Actor: &gateway.AuditRef{Type: "user", ID: u.ID},
			Target: &gateway.AuditRef{Type: "user", ID: u.ID}, Details: map[string]any{"provider": p.Name}}}, nil
	}); err != nil {
		if !rec.wrote {
			return s.fail(w, r, p.Name, fail(ErrServerError, err))
		}
		s.opt.Log.ErrorContext(r.Context(), "oauth sign-in: start session", "provider", p.Name, "err", err)
		return nil
	}
	s.opt.Log.InfoContext(r.Context(), "oauth sign-in", "provider", p.Name, "user_id", u.ID)
	if !rec.wrote {
		http.Redirect(w, r, "/", http.StatusFound)
	}
	return nil
}

// checkBinding opens the binding cookie and compares it with the callback:
// same provider, same state (constant time), not expired.
func (s *Service) checkBinding(r *http.Request, p *provider, state string) (binding, *failure) {
	c, err := r.Cookie(BindingCookie)
	if err != nil || c.Value == "" {
		return binding{}, fail(ErrInvalidState, errors.New("no binding cookie (another browser, or the flow was not started here)"))
	}
	b, err := s.seal.open(c.Value)
	if err != nil {
		return binding{}, fail(ErrInvalidState, err)
	}
	if b.Provider != p.Name {
		return binding{}, fail(ErrInvalidState, errors.New("binding is for another provider"))
	}
	if s.opt.Now().Unix() >= b.Expires {
		return binding{}, fail(ErrInvalidState, errors.New("binding expired"))
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(b.State)) != 1 {
		return binding{}, fail(ErrInvalidState, errors.New("state does not match the binding"))
	}
	return b, nil
}

// fail logs the failure (code and cause; never request parameters) and
// redirects to the login page with ?error=<code>.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, name string, err error) error {
	var f *failure
	if !errors.As(err, &f) {
		f = fail(ErrServerError, err)
	}
	level := s.opt.Log.WarnContext
	if f.Code == ErrServerError {
		level = s.opt.Log.ErrorContext
	}
	args := []any{"provider", name, "error_code", f.Code}
	if f.Err != nil {
		args = append(args, "err", f.Err.Error())
	}
	level(r.Context(), "oauth sign-in failed", args...)
	q := url.Values{"error": {f.Code}}
	if name != "" {
		q.Set("provider", name)
	}
	http.Redirect(w, r, s.opt.LoginPath+"?"+q.Encode(), http.StatusFound)
	return nil
}

// safeParam keeps a provider's error code loggable: short, plain.
func safeParam(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '?'
	}, s)
}

// writeTracker notes whether StartSession wrote a status.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (t *writeTracker) WriteHeader(code int) { t.wrote = true; t.ResponseWriter.WriteHeader(code) }
func (t *writeTracker) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// config is the oauth2 configuration of p (discovering an OpenID Connect
// issuer on first use).
func (s *Service) config(ctx context.Context, p *provider) (*oauth2.Config, *failure) {
	cfg := &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret.Reveal(),
		RedirectURL: s.CallbackURL(p.Name), Scopes: p.Scopes}
	switch p.Type {
	case TypeGitHub:
		cfg.Endpoint = p.Endpoint
	default:
		st, err := s.discover(ctx, p)
		if err != nil {
			return nil, fail(ErrProviderUnavailable, err)
		}
		cfg.Endpoint = st.provider.Endpoint()
		cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if p.Type == TypeApple {
			secret, err := s.appleSecret(p)
			if err != nil {
				return nil, fail(ErrServerError, err)
			}
			cfg.ClientSecret = secret
		}
	}
	return cfg, nil
}

// account is what a provider told about the signed-in account.
type account struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// identify exchanges the code (with the PKCE verifier) and returns the
// provider's account.
func (s *Service) identify(ctx context.Context, p *provider, code string, b binding) (account, *failure) {
	cfg, ferr := s.config(ctx, p)
	if ferr != nil {
		return account{}, ferr
	}
	cctx := context.WithValue(ctx, oauth2.HTTPClient, s.opt.HTTPClient)
	tok, err := cfg.Exchange(cctx, code, oauth2.VerifierOption(b.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return account{}, fail(ErrExchangeFailed, errors.New("token endpoint refused the code: "+safeParam(re.ErrorCode)))
		}
		return account{}, fail(ErrProviderUnavailable, errors.New("token endpoint failed"))
	}
	if p.Type == TypeGitHub {
		return s.githubAccount(ctx, p, tok)
	}
	return s.idTokenAccount(ctx, p, tok, b.Nonce)
}

// emailDomain returns the domain of an address, lower-cased.
func emailDomain(email string) string {
	return strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
}
