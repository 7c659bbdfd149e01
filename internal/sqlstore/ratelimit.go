package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.RateLimitStore = (*Store)(nil)

const policyColumns = `id, name, requests_per_minute, burst, tokens_per_minute, created_at, updated_at`

func scanPolicy(sc interface{ Scan(...any) error }) (gateway.RateLimitPolicy, error) {
	var p gateway.RateLimitPolicy
	err := sc.Scan(&p.ID, &p.Name, &p.RequestsPerMinute, &p.Burst, &p.TokensPerMinute, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// CreateRateLimitPolicy stores p, filling ID, CreatedAt and UpdatedAt; a
// duplicate name returns gateway.ErrConflict.
func (s *Store) CreateRateLimitPolicy(ctx context.Context, p *gateway.RateLimitPolicy) (err error) {
	defer s.changedOnSuccess(ctx, &err, gateway.ChangePolicy, "")
	t := now()
	id := uuid.NewString()
	_, err = s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO rate_limit_policies (`+policyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		id, p.Name, p.RequestsPerMinute, p.Burst, p.TokensPerMinute, t, t)
	if err != nil {
		return s.mapErr("create rate limit policy", err)
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, t, t
	return nil
}

// RateLimitPolicy returns the policy with id, or gateway.ErrNotFound.
func (s *Store) RateLimitPolicy(ctx context.Context, id string) (gateway.RateLimitPolicy, error) {
	p, err := scanPolicy(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+policyColumns+` FROM rate_limit_policies WHERE id = ?`), id))
	return p, s.mapErr("get rate limit policy", err)
}

// UpdateRateLimitPolicy replaces the name and limits of the policy p.ID and
// sets p.UpdatedAt (and p.CreatedAt from the row). gateway.ErrNotFound if
// there is no such policy, gateway.ErrConflict on a duplicate name.
func (s *Store) UpdateRateLimitPolicy(ctx context.Context, p *gateway.RateLimitPolicy) (err error) {
	defer s.changedOnSuccess(ctx, &err, gateway.ChangePolicy, "")
	t := now()
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE rate_limit_policies SET name = ?, requests_per_minute = ?, burst = ?, tokens_per_minute = ?, updated_at = ? WHERE id = ?`),
		p.Name, p.RequestsPerMinute, p.Burst, p.TokensPerMinute, t, p.ID)
	if err != nil {
		return s.mapErr("update rate limit policy", err)
	}
	if err := s.rateLimitTouched("update rate limit policy", res); err != nil {
		return err
	}
	stored, err := s.RateLimitPolicy(ctx, p.ID)
	if err != nil {
		return err
	}
	*p = stored
	return nil
}

// DeleteRateLimitPolicy deletes the policy and, by cascade, its
// assignments; gateway.ErrNotFound if there is no such policy.
func (s *Store) DeleteRateLimitPolicy(ctx context.Context, id string) (err error) {
	defer s.changedOnSuccess(ctx, &err, gateway.ChangePolicy, "")
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Explicit so the cascade does not depend on an engine setting.
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM rate_limit_assignments WHERE policy_id = ?`), id); err != nil {
			return s.mapErr("delete rate limit policy", err)
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM rate_limit_policies WHERE id = ?`), id)
		if err != nil {
			return s.mapErr("delete rate limit policy", err)
		}
		return s.rateLimitTouched("delete rate limit policy", res)
	})
}

// ListRateLimitPolicies returns every policy ordered by name.
func (s *Store) ListRateLimitPolicies(ctx context.Context) ([]gateway.RateLimitPolicy, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT `+policyColumns+` FROM rate_limit_policies ORDER BY name`)
	if err != nil {
		return nil, s.mapErr("list rate limit policies", err)
	}
	defer rows.Close()
	out := []gateway.RateLimitPolicy{}
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, s.mapErr("list rate limit policies", err)
		}
		out = append(out, p)
	}
	return out, s.mapErr("list rate limit policies", rows.Err())
}

// CreateRateLimitAssignment stores a, filling ID and CreatedAt.
// gateway.ErrNotFound if a.PolicyID does not exist, gateway.ErrConflict if
// the subject already has an assignment.
func (s *Store) CreateRateLimitAssignment(ctx context.Context, a *gateway.RateLimitAssignment) (err error) {
	defer s.changedOnSuccess(ctx, &err, gateway.ChangePolicy, "")
	t := now()
	id := uuid.NewString()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM rate_limit_policies WHERE id = ?`), a.PolicyID).Scan(&one)
		if err != nil {
			return s.mapErr("create rate limit assignment: policy", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO rate_limit_assignments (id, policy_id, subject_type, subject, created_at) VALUES (?, ?, ?, ?, ?)`),
			id, a.PolicyID, a.SubjectType, a.Subject, t)
		return s.mapErr("create rate limit assignment", err)
	})
	if err != nil {
		return err
	}
	a.ID, a.CreatedAt = id, t
	return nil
}

// DeleteRateLimitAssignment deletes the assignment, or returns
// gateway.ErrNotFound.
func (s *Store) DeleteRateLimitAssignment(ctx context.Context, id string) (err error) {
	defer s.changedOnSuccess(ctx, &err, gateway.ChangePolicy, "")
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`DELETE FROM rate_limit_assignments WHERE id = ?`), id)
	if err != nil {
		return s.mapErr("delete rate limit assignment", err)
	}
	return s.rateLimitTouched("delete rate limit assignment", res)
}

// ListRateLimitAssignments returns every assignment ordered by subject type,
// then subject.
func (s *Store) ListRateLimitAssignments(ctx context.Context) ([]gateway.RateLimitAssignment, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT id, policy_id, subject_type, subject, created_at FROM rate_limit_assignments ORDER BY subject_type, subject`)
	if err != nil {
		return nil, s.mapErr("list rate limit assignments", err)
	}
	defer rows.Close()
	out := []gateway.RateLimitAssignment{}
	for rows.Next() {
		var a gateway.RateLimitAssignment
		if err := rows.Scan(&a.ID, &a.PolicyID, &a.SubjectType, &a.Subject, &a.CreatedAt); err != nil {
			return nil, s.mapErr("list rate limit assignments", err)
		}
		a.CreatedAt = a.CreatedAt.UTC()
		out = append(out, a)
	}
	return out, s.mapErr("list rate limit assignments", rows.Err())
}

// rateLimitTouched maps an UPDATE or DELETE that touched no row to ErrNotFound.
func (s *Store) rateLimitTouched(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, gateway.ErrNotFound)
	}
	return nil
}
