// Package oauth signs browsers in with OAuth 2.0 and OpenID Connect
// providers (SPEC 4): GitHub (user and verified-emails API), any OpenID
// Connect issuer with discovery, and Sign in with Apple (form_post callback,
// ES256 client-secret JWT). State, PKCE S256 and the nonce are bound to the
// browser by a sealed, short-lived cookie; accounts are linked by
// (provider, subject) in the UserIdentityStore, never by email alone.
//
// The package starts no session itself: a successful sign-in goes through
// the SignIn interface (the browser-session service implements it).
package oauth

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/internal/gateway"
)

// The provider types.
const (
	TypeGitHub = "github"
	TypeOIDC   = "oidc"
	TypeApple  = "apple"
)

// AppleIssuer is Sign in with Apple's issuer (and the audience of its
// client-secret JWTs).
const AppleIssuer = "https://appleid.apple.com"

// GitHub's public endpoints.
var (
	GitHubEndpoint = oauth2.Endpoint{
		AuthURL:   "https://github.com/login/oauth/authorize",
		TokenURL:  "https://github.com/login/oauth/access_token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
	GitHubAPI = "https://api.github.com"
)

// Provider is one configured sign-in provider, as plain values.
type Provider struct {
	Name         string
	Type         string
	ClientID     string
	ClientSecret gateway.Secret // github, oidc
	// Issuer is the OpenID Connect issuer (oidc; apple: AppleIssuer when
	// empty). Its discovery document gives the endpoints and the JWKS.
	Issuer string
	// Scopes requested; empty means the type's defaults.
	Scopes []string
	// AllowedEmailDomains restrict registration (not sign-in of linked
	// identities); empty means the global list of Options.
	AllowedEmailDomains []string
	AutoRegister        bool
	// DefaultRole of registered users; RoleNone means Options.DefaultRole.
	DefaultRole gateway.Role
	// Apple: the team id, the key id and the ES256 private key the client
	// secret JWT is made from.
	TeamID     string
	KeyID      string
	PrivateKey *ecdsa.PrivateKey
	// GitHub: the OAuth endpoints and the API base (default GitHubEndpoint
	// and GitHubAPI; set for GitHub Enterprise or tests).
	Endpoint oauth2.Endpoint
	APIURL   string
}

// ProviderInfo is a provider as GET /api/auth/status lists it.
type ProviderInfo struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// SignIn starts a signed-in browser session; the browser-session service
// implements it.
type SignIn interface {
	// StartSession signs u in on the response: it sets the session cookies
	// and, usually, writes nothing else (the callback then redirects to
	// "/"). An implementation may write the whole response itself; the
	// callback then adds nothing. An error ends on the login page
	// (server_error) and is logged.
	StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u gateway.User) error
	// CurrentUser returns the user signed in on r (its session cookie), for
	// linking an identity with ?link=1.
	CurrentUser(r *http.Request) (gateway.User, bool)
}

// Store is what the flows read and write: users and their identities.
type Store interface {
	gateway.UserIdentityStore
	User(ctx context.Context, id string) (gateway.User, error)
	UserByEmail(ctx context.Context, email string) (gateway.User, error)
	CountUsers(ctx context.Context) (int, error)
}

// Options configure a Service.
type Options struct {
	Providers []Provider
	Store     Store
	SignIn    SignIn
	// PublicURL is server.public_url; callbacks are
	// PublicURL + "/api/auth/oauth/<name>/callback".
	PublicURL string
	// BindingKey seals the binding cookie (32 bytes, shared by every
	// instance so a callback may land on another one).
	BindingKey []byte
	// DefaultRole is auth.default_role; AllowedEmailDomains is
	// auth.allowed_email_domains (used when a provider has none).
	DefaultRole         gateway.Role
	AllowedEmailDomains []string
	// LoginPath is the UI's login page that errors end on (default
	// "/login"); it gets ?error=<code>.
	LoginPath string
	// BindingTTL is how long a started flow may take (default 10 minutes).
	BindingTTL time.Duration
	// HTTPClient calls the providers (default: 15s timeout).
	HTTPClient *http.Client
	Log        *slog.Logger
	Now        func() time.Time
	// Audit records OAuth sign-ins and links (nil: nothing is recorded).
	Audit gateway.Auditor
}

// Service runs the OAuth flows.
type Service struct {
	opt       Options
	providers map[string]*provider
	order     []ProviderInfo
	seal      *sealer
}

// provider is a Provider with its lazily discovered OpenID Connect state.
type provider struct {
	Provider
	mu   sync.Mutex
	oidc *oidcState // discovered once, on first use
	// apple client secret cache
	secretMu  sync.Mutex
	secret    string
	secretExp time.Time
}

// New checks the options and returns a Service; it contacts no provider
// (discovery happens on first use, so a provider that is down does not
// stop the server).
func New(opt Options) (*Service, error) {
	if opt.Store == nil {
		return nil, errors.New("oauth: no store")
	}
	if len(opt.Providers) > 0 && opt.SignIn == nil {
		return nil, errors.New("oauth: providers configured but no SignIn")
	}
	if len(opt.Providers) > 0 && opt.PublicURL == "" {
		return nil, errors.New("oauth: providers configured but no public URL")
	}
	opt.PublicURL = strings.TrimSuffix(opt.PublicURL, "/")
	if opt.LoginPath == "" {
		opt.LoginPath = "/login"
	}
	if opt.BindingTTL <= 0 {
		opt.BindingTTL = 10 * time.Minute
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.DefaultRole == gateway.RoleNone {
		opt.DefaultRole = gateway.RoleContributor
	}
	seal, err := newSealer(opt.BindingKey)
	if err != nil && len(opt.Providers) > 0 {
		return nil, err
	}
	s := &Service{opt: opt, providers: map[string]*provider{}, order: []ProviderInfo{}, seal: seal}
	for _, p := range opt.Providers {
		if _, dup := s.providers[p.Name]; dup || p.Name == "" {
			return nil, fmt.Errorf("oauth: provider name %q empty or duplicate", p.Name)
		}
		switch p.Type {
		case TypeGitHub:
			if p.Endpoint.AuthURL == "" {
				p.Endpoint = GitHubEndpoint
			}
			if p.APIURL == "" {
				p.APIURL = GitHubAPI
			}
			if len(p.Scopes) == 0 {
				p.Scopes = []string{"read:user", "user:email"}
			}
		case TypeOIDC:
			if p.Issuer == "" {
				return nil, fmt.Errorf("oauth: provider %s: no issuer", p.Name)
			}
			if len(p.Scopes) == 0 {
				p.Scopes = []string{"openid", "email", "profile"}
			}
			if !containsFold(p.Scopes, "openid") {
				p.Scopes = append([]string{"openid"}, p.Scopes...)
			}
		case TypeApple:
			if p.Issuer == "" {
				p.Issuer = AppleIssuer
			}
			if p.PrivateKey == nil || p.TeamID == "" || p.KeyID == "" {
				return nil, fmt.Errorf("oauth: provider %s: apple needs team id, key id and private key", p.Name)
			}
			if len(p.Scopes) == 0 {
				p.Scopes = []string{"name", "email"}
			}
		default:
			return nil, fmt.Errorf("oauth: provider %s: unknown type %q", p.Name, p.Type)
		}
		s.providers[p.Name] = &provider{Provider: p}
		s.order = append(s.order, ProviderInfo{Name: p.Name, Type: p.Type})
	}
	return s, nil
}

// Providers lists the configured providers in config order.
func (s *Service) Providers() []ProviderInfo { return append([]ProviderInfo{}, s.order...) }

// CallbackURL is the redirect URI to register at the provider.
func (s *Service) CallbackURL(name string) string {
	return s.opt.PublicURL + "/api/auth/oauth/" + name + "/callback"
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
