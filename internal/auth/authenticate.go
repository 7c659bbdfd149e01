package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// openCheckEvery bounds how often an open instance asks the database
// whether a user or key appeared meanwhile.
const openCheckEvery = time.Second

// openNow is Open, confirmed against the database in auto mode: another
// instance (or the CLI) may have created the first user or key since this
// one last looked, and an instance must not keep acting as the local
// admin until its next poll. The check (EXISTS queries) runs only while
// this instance still believes it is open, i.e. before any credential
// exists, and at most once per openCheckEvery. A database that cannot be
// asked leaves the belief as it was: nothing can be created in it
// meanwhile, and open mode keeps serving through an outage.
func (s *Service) openNow(ctx context.Context) bool {
	if !s.Open() {
		return false
	}
	if s.opt.Mode == ModeAuto {
		now := s.opt.Now().UnixNano()
		last := s.openChecked.Load()
		if now-last >= int64(openCheckEvery) && s.openChecked.CompareAndSwap(last, now) {
			_ = s.refreshCounts(ctx)
		}
	}
	return s.Open()
}

// Authenticate implements httpapi.Authenticator. It extracts the one
// credential (ExtractCredential's errors), acts as the local admin while
// the service is open, asks the Verifiers, then checks a login JWT: 401
// token_expired for an expired one, 401 invalid_authorization for any
// other failure, a deactivated user, or a token issued before the user's
// last logout. The role is the user's current role (from the cache, which
// this instance updates on every change and Run refreshes from the
// database), so demotion and deactivation act on the next request.
func (s *Service) Authenticate(r *http.Request) (*gateway.Principal, error) {
	cred, err := ExtractCredentialCookie(r, s.sess.cookie)
	if s.openNow(r.Context()) {
		if ge, ok := gateway.AsError(err); ok && ge.Kind == gateway.KindInvalid {
			return nil, err
		}
		return LocalPrincipal(), nil
	}
	if err != nil {
		return nil, err
	}
	if cred.Transport == TransportSession {
		return s.authenticateSession(r, *cred)
	}
	ctx := r.Context()
	for _, v := range s.opt.Verifiers {
		p, err := v.Verify(ctx, *cred)
		if err != nil || p != nil {
			return p, err
		}
	}
	tok := cred.Value.Reveal()
	if cred.Transport == TransportSession || strings.Count(tok, ".") != 2 {
		return nil, errInvalidToken
	}
	c, err := s.opt.Tokens.verify(tok, TokenTypeAccess, TokenTypeExchange)
	if err != nil {
		return nil, err
	}
	if c.Type == TokenTypeExchange {
		if s.opt.Exchange == nil {
			return nil, errInvalidToken
		}
		return s.opt.Exchange.ResolveExchange(ctx, c.Subject)
	}
	u, err := s.user(ctx, c.Subject)
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, errInvalidToken
		}
		return nil, gateway.Internal("authenticate", err)
	}
	if !u.Active || c.IssuedAt.Before(u.TokensValidAfter) {
		return nil, errInvalidToken
	}
	return UserPrincipal(u), nil
}

// UserPrincipal is the principal of a user acting with their own login.
func UserPrincipal(u gateway.User) *gateway.Principal {
	return &gateway.Principal{Kind: gateway.PrincipalUser, UserID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role, OwnerRole: u.Role,
		UserModels: u.AllowedModels, UserMaxParallel: u.MaxParallel}
}

// User returns the current user id through the cache (for /api/auth/me
// and the API key issue's owner checks): gateway.ErrNotFound if missing.
func (s *Service) User(ctx context.Context, id string) (gateway.User, error) {
	return s.user(ctx, id)
}
