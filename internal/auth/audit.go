package auth

import (
	"context"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Audit records: the changes of this package go through an auditor's
// Change, so a change and its record commit together (SPEC 8.1).

func userRef(id string) *gateway.AuditRef { return &gateway.AuditRef{Type: "user", ID: id} }
func keyRef(id string) *gateway.AuditRef  { return &gateway.AuditRef{Type: "key", ID: id} }

func auditorOr(a gateway.Auditor) gateway.Auditor {
	if a == nil {
		return gateway.NopAuditor{}
	}
	return a
}

// one is a change recording a single event.
func one(ev gateway.AuditEvent, err error) ([]gateway.AuditEvent, error) {
	if err != nil {
		return nil, err
	}
	return []gateway.AuditEvent{ev}, nil
}

// userChangeEvents are the records of an admin's patch of user before
// into after.
func userChangeEvents(before, after gateway.User, p gateway.UserPatch, password bool) []gateway.AuditEvent {
	var evs []gateway.AuditEvent
	t := userRef(after.ID)
	if before.Role != after.Role {
		evs = append(evs, gateway.AuditEvent{Action: gateway.AuditUserRoleChanged, Target: t,
			Details: map[string]any{"from": before.Role.String(), "to": after.Role.String()}})
	}
	if before.Active && !after.Active {
		evs = append(evs, gateway.AuditEvent{Action: gateway.AuditUserDeactivated, Target: t})
	}
	if !before.Active && after.Active {
		evs = append(evs, gateway.AuditEvent{Action: gateway.AuditUserActivated, Target: t})
	}
	if password {
		evs = append(evs, gateway.AuditEvent{Action: gateway.AuditPasswordChanged, Target: t})
	}
	var fields []string
	if p.DisplayName != nil && before.DisplayName != after.DisplayName {
		fields = append(fields, "display_name")
	}
	if p.AllowedModels != nil {
		fields = append(fields, "allowed_models")
	}
	if p.MaxParallel != nil {
		fields = append(fields, "max_parallel")
	}
	if len(fields) > 0 {
		evs = append(evs, gateway.AuditEvent{Action: "user.updated", Target: t, Details: map[string]any{"fields": fields}})
	}
	return evs
}

// recordLogin stores a successful login's last_login_at with its
// auth.login record (actor: the user).
func (s *Service) recordLogin(ctx context.Context, u gateway.User, method string) error {
	return s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return one(gateway.AuditEvent{Action: gateway.AuditLogin, Actor: &gateway.AuditRef{Type: "user", ID: u.ID}, Target: userRef(u.ID),
			Details: map[string]any{"method": method}}, s.opt.Users.RecordLogin(ctx, u.ID, s.opt.Now()))
	})
}
