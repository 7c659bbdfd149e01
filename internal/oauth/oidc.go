package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// oidcState is a discovered OpenID Connect issuer.
type oidcState struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// discover fetches the issuer's discovery document once; a failure is
// retried on the next flow.
func (s *Service) discover(ctx context.Context, p *provider) (*oidcState, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, nil
	}
	op, err := oidc.NewProvider(oidc.ClientContext(ctx, s.opt.HTTPClient), p.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s: %w", p.Issuer, err)
	}
	// The verifier checks the signature against the issuer's JWKS (fetched
	// and refreshed by go-oidc through the same client), iss, aud = our
	// client id and exp against the injected clock; the nonce is checked
	// below.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), s.opt.HTTPClient), jwksURL(op))
	v := oidc.NewVerifier(p.Issuer, keys, &oidc.Config{ClientID: p.ClientID, Now: s.opt.Now,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.ES256, oidc.PS256, oidc.EdDSA}})
	p.oidc = &oidcState{provider: op, verifier: v}
	return p.oidc, nil
}

func jwksURL(op *oidc.Provider) string {
	var c struct {
		JWKS string `json:"jwks_uri"`
	}
	_ = op.Claims(&c)
	return c.JWKS
}

// flexBool decodes a JSON boolean or the strings "true"/"false" (Apple
// sends email_verified as a string).
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null", `""`:
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}

// idTokenAccount verifies the ID token of tok and returns its account.
func (s *Service) idTokenAccount(ctx context.Context, p *provider, tok *oauth2.Token, nonce string) (account, *failure) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return account{}, fail(ErrInvalidIDToken, errors.New("token response has no id_token"))
	}
	st, err := s.discover(ctx, p)
	if err != nil {
		return account{}, fail(ErrProviderUnavailable, err)
	}
	idt, err := st.verifier.Verify(oidc.ClientContext(ctx, s.opt.HTTPClient), raw)
	if err != nil {
		return account{}, fail(ErrInvalidIDToken, err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return account{}, fail(ErrInvalidIDToken, errors.New("nonce does not match the binding"))
	}
	var c struct {
		Email         string   `json:"email"`
		EmailVerified flexBool `json:"email_verified"`
		Name          string   `json:"name"`
	}
	if err := idt.Claims(&c); err != nil {
		return account{}, fail(ErrInvalidIDToken, err)
	}
	if idt.Subject == "" {
		return account{}, fail(ErrInvalidIDToken, errors.New("id token has no sub"))
	}
	return account{Subject: idt.Subject, Email: c.Email, EmailVerified: bool(c.EmailVerified), Name: c.Name}, nil
}

// appleUserName reads the name from the "user" form field Apple posts on
// the first sign-in ({"name":{"firstName","lastName"},"email"}). It is not
// signed: used only as a display name.
func appleUserName(v string) string {
	var u struct {
		Name struct {
			First string `json:"firstName"`
			Last  string `json:"lastName"`
		} `json:"name"`
	}
	if v == "" || json.Unmarshal([]byte(v), &u) != nil {
		return ""
	}
	n := u.Name.First
	if u.Name.Last != "" {
		if n != "" {
			n += " "
		}
		n += u.Name.Last
	}
	if len(n) > 200 {
		n = n[:200]
	}
	return n
}
