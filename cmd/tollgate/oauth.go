package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/oauth"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// oauthBindingKeySetting is the settings row holding the key that seals
// OAuth binding cookies (shared by every instance on the database).
const oauthBindingKeySetting = "oauth_binding_key"

// newOAuth builds the OAuth service of cfg.Auth.OAuth: client secrets
// through deps.getenv, each provider adjusted by deps.oauthProvider when
// set. signIn is how a successful sign-in starts a browser session
// (sessionSignIn).
func newOAuth(ctx context.Context, cfg *config.Config, deps appDeps, st *sqlstore.Store,
	signIn oauth.SignIn, log *slog.Logger, aud gateway.Auditor) (*oauth.Service, error) {
	providers, err := oauthProviders(cfg, deps.getenv)
	if err != nil {
		return nil, err
	}
	if deps.oauthProvider != nil {
		for i := range providers {
			deps.oauthProvider(&providers[i])
		}
	}
	role, err := gateway.ParseRole(cfg.Auth.DefaultRole)
	if err != nil {
		return nil, fmt.Errorf("auth.default_role: %w", err)
	}
	var key []byte
	if len(providers) > 0 {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		v, err := st.SetSettingIfAbsent(ctx, oauthBindingKeySetting, base64.StdEncoding.EncodeToString(fresh))
		if err != nil {
			return nil, fmt.Errorf("oauth binding key: %w", err)
		}
		if key, err = base64.StdEncoding.DecodeString(v); err != nil || len(key) != 32 {
			return nil, fmt.Errorf("oauth binding key: stored value is not 32 bytes of base64")
		}
	}
	return oauth.New(oauth.Options{Providers: providers, Store: st, SignIn: signIn, PublicURL: cfg.Server.PublicURL,
		BindingKey: key, DefaultRole: role, AllowedEmailDomains: cfg.Auth.AllowedEmailDomains, Log: log, Audit: aud})
}

// oauthProviders turns [[auth.oauth]] into oauth.Providers: client secrets
// from the environment, Apple keys from their files. Errors name the key.
func oauthProviders(cfg *config.Config, getenv func(string) string) ([]oauth.Provider, error) {
	out := []oauth.Provider{}
	for i, p := range cfg.Auth.OAuth {
		key := fmt.Sprintf("auth.oauth[%d]", i)
		op := oauth.Provider{Name: p.Name, Type: p.Type, ClientID: p.ClientID, Issuer: p.Issuer, Scopes: p.Scopes,
			AllowedEmailDomains: p.AllowedEmailDomains, AutoRegister: p.AutoRegister, TeamID: p.TeamID, KeyID: p.KeyID}
		if p.DefaultRole != "" {
			r, err := gateway.ParseRole(p.DefaultRole)
			if err != nil {
				return nil, fmt.Errorf("%s.default_role: %w", key, err)
			}
			op.DefaultRole = r
		}
		if p.Type == oauth.TypeApple {
			k, err := readAppleKey(p.PrivateKeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s.private_key_file: %w", key, err)
			}
			op.PrivateKey = k
		} else {
			secret := getenv(p.ClientSecretEnv)
			if secret == "" {
				return nil, fmt.Errorf("%s.client_secret_env: environment variable %s is not set", key, p.ClientSecretEnv)
			}
			op.ClientSecret = gateway.Secret(secret)
		}
		out = append(out, op)
	}
	return out, nil
}

// readAppleKey reads the .p8 file Apple hands out: a PEM "PRIVATE KEY"
// (PKCS #8) holding a P-256 ECDSA key.
func readAppleKey(path string) (*ecdsa.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve.Params().Name != "P-256" {
		return nil, fmt.Errorf("%s is not a P-256 (ES256) key", path)
	}
	return ec, nil
}

// sessionSignIn signs an OAuth user in with a browser session (SPEC 4:
// both cookies, then the callback redirects to /), and finds the signed-in
// user of a ?link=1 flow from the request's credential (the session cookie
// in a browser).
type sessionSignIn struct{ id *auth.Service }

func (s sessionSignIn) StartSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u gateway.User) error {
	_, err := s.id.StartSession(ctx, w, r, u)
	return err
}

func (s sessionSignIn) CurrentUser(r *http.Request) (gateway.User, bool) {
	p, err := s.id.Authenticate(r)
	if err != nil || p == nil || p.Kind != gateway.PrincipalUser {
		return gateway.User{}, false
	}
	u, err := s.id.User(r.Context(), p.UserID)
	return u, err == nil && u.Active
}
