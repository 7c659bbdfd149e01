package budget

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Status is one budget as it stands for a principal (GET /api/limits).
type Status struct {
	Budget   gateway.Budget
	Counter  gateway.BudgetCounter
	ResetsAt *time.Time // nil for total
}

// Statuses returns every budget matching p with its current period.
func (s *Service) Statuses(ctx context.Context, p *gateway.Principal) ([]Status, error) {
	now := s.clock()
	out := []Status{}
	for _, b := range s.Matching(p) {
		start, end := b.Period.Bounds(now)
		c, err := s.store.BudgetCounter(ctx, b.ID, start)
		if err != nil {
			return nil, gateway.Internal("budget status", err)
		}
		st := Status{Budget: b, Counter: c}
		if !end.IsZero() {
			st.ResetsAt = &end
		}
		out = append(out, st)
	}
	return out, nil
}

// Validate checks a budget's fields: 400 missing_field/invalid_field
// naming the body field.
func Validate(b *gateway.Budget) error {
	switch {
	case b.SubjectType == "":
		return gateway.Invalid("missing_field", "body.subject_type", "subject_type is required")
	case !b.SubjectType.Valid():
		return gateway.Invalid("invalid_field", "body.subject_type", "subject_type must be key, user, end_user or role")
	case b.Subject == "":
		return gateway.Invalid("missing_field", "body.subject", "subject is required")
	case len(b.Subject) > 300:
		return gateway.Invalid("invalid_field", "body.subject", "subject is at most 300 characters")
	case b.SubjectType == gateway.BudgetRole && !validRole(b.Subject):
		return gateway.Invalid("invalid_field", "body.subject", "a role subject is viewer, contributor or admin")
	case b.SubjectType == gateway.BudgetEndUser && !strings.Contains(b.Subject, ":"):
		return gateway.Invalid("invalid_field", "body.subject", "an end_user subject is <key id>:<end user id>")
	case b.Period == "":
		return gateway.Invalid("missing_field", "body.period", "period is required")
	case !b.Period.Valid():
		return gateway.Invalid("invalid_field", "body.period", "period must be day, week, month or total")
	case b.MaxTokens == nil && b.MaxCost == nil:
		return gateway.Invalid("missing_field", "body.max_tokens", "a budget needs max_tokens, max_cost or both")
	case b.MaxTokens != nil && *b.MaxTokens < 0:
		return gateway.Invalid("invalid_field", "body.max_tokens", "max_tokens must not be negative")
	case b.MaxCost != nil && *b.MaxCost < 0:
		return gateway.Invalid("invalid_field", "body.max_cost", "max_cost must not be negative")
	case b.AlertPercent < 0 || b.AlertPercent > 100:
		return gateway.Invalid("invalid_field", "body.alert_percent", "alert_percent is from 1 to 100 (0: no alert)")
	}
	return nil
}

func validRole(s string) bool {
	r, err := gateway.ParseRole(s)
	return err == nil && r.AtLeast(gateway.RoleViewer)
}

var errBudgetNotFound = gateway.NotFound("not_found", "No such budget")

func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return errBudgetNotFound
	case errors.Is(err, gateway.ErrConflict):
		return gateway.Invalid("invalid_field", "body.period", "this subject already has a budget of this period")
	}
	return gateway.Internal(op, err)
}

// List returns every budget.
func (s *Service) List(ctx context.Context) ([]gateway.Budget, error) {
	all, err := s.store.ListBudgets(ctx)
	if err != nil {
		return nil, gateway.Internal("list budgets", err)
	}
	return all, nil
}

// Create validates and stores b; this instance applies it at once.
func (s *Service) Create(ctx context.Context, b *gateway.Budget) error {
	if err := Validate(b); err != nil {
		return err
	}
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return budgetChanged("create", b, s.store.CreateBudget(ctx, b))
	}); err != nil {
		return storeErr("create budget", err)
	}
	s.reloadNow(ctx)
	return nil
}

// Update validates and replaces budget b.ID (404 not_found).
func (s *Service) Update(ctx context.Context, b *gateway.Budget) error {
	if err := Validate(b); err != nil {
		return err
	}
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return budgetChanged("update", b, s.store.UpdateBudget(ctx, b))
	}); err != nil {
		return storeErr("update budget", err)
	}
	s.reloadNow(ctx)
	return nil
}

// Delete deletes budget id (404 not_found).
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return budgetChanged("delete", &gateway.Budget{ID: id}, s.store.DeleteBudget(ctx, id))
	}); err != nil {
		return storeErr("delete budget", err)
	}
	s.reloadNow(ctx)
	return nil
}

// PutSubject replaces every budget of b's subject with b (a key owner's
// PUT /api/keys/{id}/budget: one budget per key).
func (s *Service) PutSubject(ctx context.Context, b *gateway.Budget) error {
	if err := Validate(b); err != nil {
		return err
	}
	if err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		return budgetChanged("replace", b, s.store.ReplaceSubjectBudgets(ctx, b))
	}); err != nil {
		return storeErr("put budget", err)
	}
	s.reloadNow(ctx)
	return nil
}

// DeleteSubject deletes every budget of a subject (404 not_found when
// there was none).
func (s *Service) DeleteSubject(ctx context.Context, t gateway.BudgetSubjectType, subject string) error {
	var n int
	err := s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		var err error
		if n, err = s.store.DeleteSubjectBudgets(ctx, t, subject); err != nil || n == 0 {
			return nil, err
		}
		return budgetChanged("delete", &gateway.Budget{SubjectType: t, Subject: subject}, nil)
	})
	if err != nil {
		return gateway.Internal("delete budget", err)
	}
	if n == 0 {
		return errBudgetNotFound
	}
	s.reloadNow(ctx)
	return nil
}

func (s *Service) reloadNow(ctx context.Context) {
	if err := s.Reload(ctx); err != nil {
		s.log.WarnContext(ctx, "reload budgets", "err", err)
	}
}

// budgetChanged is the budget.changed record of op on b.
func budgetChanged(op string, b *gateway.Budget, err error) ([]gateway.AuditEvent, error) {
	if err != nil {
		return nil, err
	}
	d := map[string]any{"op": op}
	if b.SubjectType != "" {
		d["subject_type"], d["subject"] = string(b.SubjectType), b.Subject
	}
	if b.Period != "" {
		d["period"] = string(b.Period)
	}
	if b.MaxTokens != nil {
		d["max_tokens"] = *b.MaxTokens
	}
	if b.MaxCost != nil {
		d["max_cost"] = b.MaxCost.String()
	}
	var t *gateway.AuditRef
	if b.ID != "" {
		t = &gateway.AuditRef{Type: "budget", ID: b.ID}
	}
	return []gateway.AuditEvent{{Action: gateway.AuditBudgetChanged, Target: t, Details: d}}, nil
}
