package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.UserStore = (*Store)(nil)

const userColumns = `id, email, display_name, role, active, password_hash, created_at, updated_at, last_login_at, tokens_valid_after, allowed_models, max_parallel`

// emailKey is the case-insensitive form of an email that the unique
// constraint applies to.
func emailKey(email string) string { return strings.ToLower(email) }

func scanUser(sc scanner) (gateway.User, error) {
	var (
		u          gateway.User
		role       string
		lastLogin  sql.NullTime
		validAfter sql.NullTime
		models     string
	)
	err := sc.Scan(&u.ID, &u.Email, &u.DisplayName, &role, &u.Active, &u.PasswordHash, &u.CreatedAt, &u.UpdatedAt, &lastLogin, &validAfter, &models, &u.MaxParallel)
	if err != nil {
		return u, err
	}
	if u.AllowedModels, err = decodeModels(models); err != nil {
		return u, fmt.Errorf("user %s: %w", u.ID, err)
	}
	if u.Role, err = gateway.ParseRole(role); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	if lastLogin.Valid {
		t := lastLogin.Time.UTC()
		u.LastLoginAt = &t
	}
	if validAfter.Valid {
		u.TokensValidAfter = validAfter.Time.UTC()
	}
	return u, nil
}

// lockUsers serialises the transactions that read-then-write users
// (first-user setup, the last-admin rule). SQLite transactions are already
// serial (_txlock=immediate); PostgreSQL needs a table lock.
func (s *Store) lockUsers(ctx context.Context, tx *sql.Tx) error {
	if s.d.name != "postgres" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`)
	return err
}

func (s *Store) insertUser(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, u *gateway.User) error {
	t := now()
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	if !u.Role.AtLeast(gateway.RoleViewer) {
		return fmt.Errorf("user role %v is not a role", u.Role)
	}
	_, err = ex.ExecContext(ctx, s.q(`INSERT INTO users (id, email, email_key, display_name, role, active, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id.String(), u.Email, emailKey(u.Email), u.DisplayName, u.Role.String(), u.Active, u.PasswordHash, t, t)
	if err != nil {
		return err
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id.String(), t, t
	return nil
}

// CreateUser stores u, filling ID, CreatedAt and UpdatedAt;
// gateway.ErrConflict if the email is taken.
func (s *Store) CreateUser(ctx context.Context, u *gateway.User) error {
	return s.mapErr("create user", s.insertUser(ctx, s.conn(ctx), u))
}

// CreateFirstUser stores u only while the users table is empty, else
// gateway.ErrConflict.
func (s *Store) CreateFirstUser(ctx context.Context, u *gateway.User) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUsers(ctx, tx); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return gateway.ErrConflict
		}
		return s.insertUser(ctx, tx, u)
	})
	return s.mapErr("create first user", err)
}

// User returns the user with id, or gateway.ErrNotFound.
func (s *Store) User(ctx context.Context, id string) (gateway.User, error) {
	u, err := scanUser(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
	return u, s.mapErr("get user", err)
}

// UserByEmail returns the user with the email (case-insensitively), or
// gateway.ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (gateway.User, error) {
	u, err := scanUser(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE email_key = ?`), emailKey(email)))
	return u, s.mapErr("get user by email", err)
}

// ListUsers returns up to limit users in creation order (ids are UUIDv7)
// after cursor, and the cursor of the next page ("" when there is none).
func (s *Store) ListUsers(ctx context.Context, cursor string, limit int) ([]gateway.User, string, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`), cursor, limit+1)
	if err != nil {
		return nil, "", s.mapErr("list users", err)
	}
	defer rows.Close()
	users := []gateway.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, "", s.mapErr("list users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, "", s.mapErr("list users", err)
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = users[limit-1].ID
	}
	return users, next, nil
}

// CountUsers returns the number of users.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, s.mapErr("count users", err)
}

// AnyUsers reports whether a user exists.
func (s *Store) AnyUsers(ctx context.Context) (bool, error) {
	return s.exists(ctx, "any users", `SELECT EXISTS (SELECT 1 FROM users)`)
}

// UpdateUser applies p to the user id and returns the result:
// gateway.ErrNotFound for no such user, gateway.ErrLastAdmin when the user
// is the last active admin and p would demote or deactivate them.
func (s *Store) UpdateUser(ctx context.Context, id string, p gateway.UserPatch) (gateway.User, error) {
	var out gateway.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.lockUsers(ctx, tx); err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
		if err != nil {
			return err
		}
		demotes := p.Role != nil && *p.Role != gateway.RoleAdmin
		deactivates := p.Active != nil && !*p.Active
		if u.Role == gateway.RoleAdmin && u.Active && (demotes || deactivates) {
			var others int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = ? AND id <> ?`), true, id).Scan(&others); err != nil {
				return err
			}
			if others == 0 {
				return gateway.ErrLastAdmin
			}
		}
		if p.Role != nil {
			if !p.Role.AtLeast(gateway.RoleViewer) {
				return fmt.Errorf("role %v is not a role", *p.Role)
			}
			u.Role = *p.Role
		}
		if p.Active != nil {
			u.Active = *p.Active
		}
		if p.DisplayName != nil {
			u.DisplayName = *p.DisplayName
		}
		if p.AllowedModels != nil {
			u.AllowedModels = *p.AllowedModels
		}
		if p.MaxParallel != nil {
			u.MaxParallel = *p.MaxParallel
		}
		if va := p.TokensValidAfter; va != nil && va.After(u.TokensValidAfter) {
			u.TokensValidAfter = va.UTC().Truncate(time.Microsecond)
		}
		var validAfter any // NULL until a logout or deactivation sets it
		if !u.TokensValidAfter.IsZero() {
			validAfter = u.TokensValidAfter
		}
		u.UpdatedAt = now()
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET role = ?, active = ?, display_name = ?, tokens_valid_after = ?, allowed_models = ?, max_parallel = ?, updated_at = ? WHERE id = ?`),
			u.Role.String(), u.Active, u.DisplayName, validAfter, encodeModels(u.AllowedModels), u.MaxParallel, u.UpdatedAt, id); err != nil {
			return err
		}
		out = u
		return nil
	})
	if errors.Is(err, gateway.ErrLastAdmin) {
		return gateway.User{}, fmt.Errorf("update user: %w", err)
	}
	if err == nil {
		s.changed(ctx, gateway.ChangeUser, id)
	}
	return out, s.mapErr("update user", err)
}

func (s *Store) updateOne(ctx context.Context, op, set string, args ...any) error {
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE users SET `+set+`, updated_at = ? WHERE id = ?`), args...)
	if err != nil {
		return s.mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, gateway.ErrNotFound)
	}
	s.changed(ctx, gateway.ChangeUser, args[len(args)-1].(string))
	return nil
}

// SetPasswordHash replaces the user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	return s.updateOne(ctx, "set password hash", `password_hash = ?`, hash, now(), id)
}

// RecordLogin sets the user's last_login_at. It does not count as a change
// for cache synchronisation (updated_at is left alone).
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time) error {
	_, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE users SET last_login_at = ? WHERE id = ?`), at.UTC().Truncate(time.Microsecond), id)
	return s.mapErr("record login", err)
}

// RevokeTokens sets the user's logout watermark: tokens issued before
// validAfter are no longer accepted.
func (s *Store) RevokeTokens(ctx context.Context, id string, validAfter time.Time) error {
	return s.updateOne(ctx, "revoke tokens", `tokens_valid_after = ?`, validAfter.UTC().Truncate(time.Microsecond), now(), id)
}

// UsersChangedSince returns the users whose updated_at is at or after t.
func (s *Store) UsersChangedSince(ctx context.Context, t time.Time) ([]gateway.User, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE updated_at >= ? ORDER BY updated_at`), t.UTC())
	if err != nil {
		return nil, s.mapErr("users changed since", err)
	}
	defer rows.Close()
	var users []gateway.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.mapErr("users changed since", err)
		}
		users = append(users, u)
	}
	return users, s.mapErr("users changed since", rows.Err())
}
