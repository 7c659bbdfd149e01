package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
)

// account finds the user of acct's identity, or registers one. Never by
// email alone: an unknown identity whose email belongs to a user is
// refused (email_taken) until that user links it while signed in.
func (s *Service) account(ctx context.Context, p *provider, acct account) (gateway.User, *failure) {
	id, err := s.opt.Store.UserIdentity(ctx, p.Name, acct.Subject)
	switch {
	case err == nil:
		u, err := s.opt.Store.User(ctx, id.UserID)
		if err != nil {
			return u, fail(ErrServerError, fmt.Errorf("user of identity: %w", err))
		}
		if !u.Active {
			return u, fail(ErrAccountDisabled, nil)
		}
		email := ""
		if acct.EmailVerified {
			email = acct.Email
		}
		if err := s.opt.Store.RecordIdentityLogin(ctx, p.Name, acct.Subject, email, s.opt.Now()); err != nil {
			s.opt.Log.WarnContext(ctx, "oauth: record login", "provider", p.Name, "user_id", u.ID, "err", err)
		}
		return u, nil
	case !errors.Is(err, gateway.ErrNotFound):
		return gateway.User{}, fail(ErrServerError, fmt.Errorf("identity lookup: %w", err))
	}
	return s.register(ctx, p, acct)
}

// register creates a user for a new identity when the provider allows it.
func (s *Service) register(ctx context.Context, p *provider, acct account) (gateway.User, *failure) {
	if !p.AutoRegister {
		return gateway.User{}, fail(ErrRegistrationDisabled, errors.New("unknown identity and auto_register is off"))
	}
	n, err := s.opt.Store.CountUsers(ctx)
	if err != nil {
		return gateway.User{}, fail(ErrServerError, err)
	}
	if n == 0 {
		// As with password registration: nobody registers before setup
		// has created the first admin.
		return gateway.User{}, fail(ErrRegistrationDisabled, errors.New("setup has not created the first admin"))
	}
	if !acct.EmailVerified || !plainEmail(acct.Email) {
		return gateway.User{}, fail(ErrEmailNotVerified, errors.New("the provider reports no verified email"))
	}
	domains := p.AllowedEmailDomains
	if len(domains) == 0 {
		domains = s.opt.AllowedEmailDomains
	}
	if len(domains) > 0 && !slices.ContainsFunc(domains, func(d string) bool { return strings.EqualFold(d, emailDomain(acct.Email)) }) {
		return gateway.User{}, fail(ErrEmailDomain, nil)
	}
	if _, err := s.opt.Store.UserByEmail(ctx, acct.Email); err == nil {
		return gateway.User{}, fail(ErrEmailTaken, errors.New("a user has this email; it links only when signed in with ?link=1"))
	} else if !errors.Is(err, gateway.ErrNotFound) {
		return gateway.User{}, fail(ErrServerError, err)
	}
	role := p.DefaultRole
	if role == gateway.RoleNone {
		role = s.opt.DefaultRole
	}
	name := acct.Name
	if len(name) > 200 {
		name = name[:200]
	}
	u := gateway.User{Email: acct.Email, DisplayName: name, Role: role, Active: true}
	id := gateway.UserIdentity{Provider: p.Name, Subject: acct.Subject, Email: acct.Email}
	if err := s.auditor().Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		if err := s.opt.Store.CreateUserWithIdentity(ctx, &u, &id); err != nil {
			return nil, err
		}
		return []gateway.AuditEvent{{Action: gateway.AuditRegister, Actor: &gateway.AuditRef{Type: "user", ID: u.ID},
			Target: &gateway.AuditRef{Type: "user", ID: u.ID}, Details: map[string]any{"provider": p.Name, "email": u.Email, "role": role.String()}}}, nil
	}); err != nil {
		if errors.Is(err, gateway.ErrConflict) {
			return u, fail(ErrEmailTaken, err)
		}
		return u, fail(ErrServerError, err)
	}
	if err := s.opt.Store.RecordIdentityLogin(ctx, p.Name, acct.Subject, acct.Email, s.opt.Now()); err != nil {
		s.opt.Log.WarnContext(ctx, "oauth: record login", "provider", p.Name, "user_id", u.ID, "err", err)
	}
	s.opt.Log.InfoContext(ctx, "oauth: user registered", "provider", p.Name, "user_id", u.ID, "role", role.String())
	return u, nil
}

// link links acct's identity to the signed-in user userID.
func (s *Service) link(ctx context.Context, p *provider, acct account, userID string) *failure {
	id, err := s.opt.Store.UserIdentity(ctx, p.Name, acct.Subject)
	switch {
	case err == nil && id.UserID == userID:
		return nil // linked already
	case err == nil:
		return fail(ErrIdentityInUse, errors.New("identity is linked to another user"))
	case !errors.Is(err, gateway.ErrNotFound):
		return fail(ErrServerError, err)
	}
	u, err := s.opt.Store.User(ctx, userID)
	if err != nil || !u.Active {
		return fail(ErrLoginRequired, errors.New("linking user is gone or inactive"))
	}
	email := ""
	if acct.EmailVerified {
		email = acct.Email
	}
	err = s.auditor().Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		err := s.opt.Store.LinkUserIdentity(ctx, &gateway.UserIdentity{Provider: p.Name, Subject: acct.Subject, UserID: userID, Email: email})
		if err != nil {
			return nil, err
		}
		return []gateway.AuditEvent{{Action: gateway.AuditOAuthLinked, Actor: &gateway.AuditRef{Type: "user", ID: userID},
			Target: &gateway.AuditRef{Type: "user", ID: userID}, Details: map[string]any{"provider": p.Name, "email": email}}}, nil
	})
	if errors.Is(err, gateway.ErrConflict) {
		return fail(ErrIdentityInUse, err)
	}
	if err != nil {
		return fail(ErrServerError, err)
	}
	return nil
}

func plainEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && a.Name == "" && len(e) <= 254 && strings.Contains(e, "@")
}

func (s *Service) auditor() gateway.Auditor {
	if s.opt.Audit == nil {
		return gateway.NopAuditor{}
	}
	return s.opt.Audit
}
