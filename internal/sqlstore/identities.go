package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.UserIdentityStore = (*Store)(nil)

const identityColumns = `provider, subject, user_id, email, created_at, last_login_at`

func scanIdentity(sc scanner) (gateway.UserIdentity, error) {
	var (
		id        gateway.UserIdentity
		lastLogin sql.NullTime
	)
	if err := sc.Scan(&id.Provider, &id.Subject, &id.UserID, &id.Email, &id.CreatedAt, &lastLogin); err != nil {
		return id, err
	}
	id.CreatedAt = id.CreatedAt.UTC()
	if lastLogin.Valid {
		t := lastLogin.Time.UTC()
		id.LastLoginAt = &t
	}
	return id, nil
}

// UserIdentity returns the identity (provider, subject), or
// gateway.ErrNotFound.
func (s *Store) UserIdentity(ctx context.Context, provider, subject string) (gateway.UserIdentity, error) {
	id, err := scanIdentity(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+identityColumns+` FROM user_identities
		WHERE provider = ? AND subject = ?`), provider, subject))
	return id, s.mapErr("get user identity", err)
}

type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

func (s *Store) insertIdentity(ctx context.Context, ex execer, id *gateway.UserIdentity) error {
	if id.Provider == "" || id.Subject == "" || id.UserID == "" {
		return fmt.Errorf("user identity needs provider, subject and user id")
	}
	t := now()
	_, err := ex.ExecContext(ctx, s.q(`INSERT INTO user_identities (provider, subject, user_id, email, created_at)
		VALUES (?, ?, ?, ?, ?)`), id.Provider, id.Subject, id.UserID, id.Email, t)
	if err != nil {
		return err
	}
	id.CreatedAt = t
	return nil
}

// LinkUserIdentity stores id for an existing user: gateway.ErrConflict when
// (provider, subject) is linked already, gateway.ErrNotFound when the user
// does not exist.
func (s *Store) LinkUserIdentity(ctx context.Context, id *gateway.UserIdentity) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM users WHERE id = ?`), id.UserID).Scan(&one); err != nil {
			return err
		}
		return s.insertIdentity(ctx, tx, id)
	})
	return s.mapErr("link user identity", err)
}

// CreateUserWithIdentity stores u and id in one transaction;
// gateway.ErrConflict (and nothing stored) when the email is taken or the
// identity is linked already.
func (s *Store) CreateUserWithIdentity(ctx context.Context, u *gateway.User, id *gateway.UserIdentity) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		id.UserID = u.ID
		return s.insertIdentity(ctx, tx, id)
	})
	if err != nil {
		u.ID, id.UserID = "", ""
	}
	return s.mapErr("create user with identity", err)
}

// UserIdentities lists the user's identities, oldest first.
func (s *Store) UserIdentities(ctx context.Context, userID string) ([]gateway.UserIdentity, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT `+identityColumns+` FROM user_identities
		WHERE user_id = ? ORDER BY created_at, provider, subject`), userID)
	if err != nil {
		return nil, s.mapErr("list user identities", err)
	}
	defer rows.Close()
	out := []gateway.UserIdentity{}
	for rows.Next() {
		id, err := scanIdentity(rows)
		if err != nil {
			return nil, s.mapErr("list user identities", err)
		}
		out = append(out, id)
	}
	return out, s.mapErr("list user identities", rows.Err())
}

// RecordIdentityLogin sets the identity's last_login_at and email and the
// user's last_login_at; gateway.ErrNotFound for an unknown identity.
func (s *Store) RecordIdentityLogin(ctx context.Context, provider, subject, email string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var userID string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT user_id FROM user_identities WHERE provider = ? AND subject = ?`),
			provider, subject).Scan(&userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE user_identities SET last_login_at = ?, email = ?
			WHERE provider = ? AND subject = ?`), at, email, provider, subject); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE users SET last_login_at = ? WHERE id = ?`), at, userID)
		return err
	})
	return s.mapErr("record identity login", err)
}
