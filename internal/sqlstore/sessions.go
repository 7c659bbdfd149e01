package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.SessionStore = (*Store)(nil)

const sessionColumns = `id, user_id, token_hash, csrf_hash, created_at, last_seen_at, idle_expires_at, expires_at, user_agent, ip`

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func decodeHash(dst *[32]byte, s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return fmt.Errorf("malformed hash")
	}
	copy(dst[:], b)
	return nil
}

func scanSession(sc scanner) (gateway.Session, error) {
	var (
		s          gateway.Session
		tok, csrf  string
		lastSeen   time.Time
		idle, absT time.Time
	)
	if err := sc.Scan(&s.ID, &s.UserID, &tok, &csrf, &s.CreatedAt, &lastSeen, &idle, &absT, &s.UserAgent, &s.IP); err != nil {
		return s, err
	}
	if err := decodeHash(&s.TokenHash, tok); err != nil {
		return s, fmt.Errorf("session %s: %w", s.ID, err)
	}
	if err := decodeHash(&s.CSRFHash, csrf); err != nil {
		return s, fmt.Errorf("session %s: %w", s.ID, err)
	}
	s.CreatedAt, s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt = s.CreatedAt.UTC(), lastSeen.UTC(), idle.UTC(), absT.UTC()
	return s, nil
}

// CreateSession stores sess (filling ID) and, in the same transaction,
// deletes the user's sessions that ended before sess.CreatedAt and those
// beyond the newest max.
func (s *Store) CreateSession(ctx context.Context, sess *gateway.Session, max int) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		at := utc(sess.CreatedAt)
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE user_id = ? AND (expires_at <= ? OR idle_expires_at <= ?)`),
			sess.UserID, at, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			id.String(), sess.UserID, hashText(sess.TokenHash), hashText(sess.CSRFHash), at, utc(sess.LastSeenAt),
			utc(sess.IdleExpiresAt), utc(sess.ExpiresAt), sess.UserAgent, sess.IP); err != nil {
			return err
		}
		if max > 0 {
			// Newest first by creation time, then by id (UUIDv7: creation order).
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE user_id = ? AND id NOT IN
				(SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id DESC LIMIT ?)`),
				sess.UserID, sess.UserID, max); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.mapErr("create session", err)
	}
	sess.ID = id.String()
	return nil
}

// SessionByHash returns the session whose secret hashes to h, or
// gateway.ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, h [32]byte) (gateway.Session, error) {
	sess, err := scanSession(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`), hashText(h)))
	return sess, s.mapErr("get session", err)
}

// RotateSession replaces the hashes of session id while its secret still
// hashes to old; gateway.ErrNotFound otherwise.
func (s *Store) RotateSession(ctx context.Context, id string, old, token, csrf [32]byte, lastSeen, idleUntil time.Time) error {
	return s.execOne(ctx, "rotate session", `UPDATE sessions SET token_hash = ?, csrf_hash = ?, last_seen_at = ?, idle_expires_at = ?
		WHERE id = ? AND token_hash = ?`, hashText(token), hashText(csrf), utc(lastSeen), utc(idleUntil), id, hashText(old))
}

// TouchSession moves the last use and idle deadline of session id (never
// backwards); gateway.ErrNotFound when the session is gone.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, idleUntil time.Time) error {
	_, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ? AND last_seen_at < ?`),
		utc(lastSeen), utc(idleUntil), id, utc(lastSeen))
	return s.mapErr("touch session", err)
}

// ListSessions returns the user's sessions, newest first.
func (s *Store) ListSessions(ctx context.Context, userID string) ([]gateway.Session, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY created_at DESC, id DESC`), userID)
	if err != nil {
		return nil, s.mapErr("list sessions", err)
	}
	defer rows.Close()
	out := []gateway.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, s.mapErr("list sessions", err)
		}
		out = append(out, sess)
	}
	return out, s.mapErr("list sessions", rows.Err())
}

// DeleteSession ends session id of userID ("" for any user);
// gateway.ErrNotFound when there is none.
func (s *Store) DeleteSession(ctx context.Context, id, userID string) error {
	if userID == "" {
		return s.execOne(ctx, "delete session", `DELETE FROM sessions WHERE id = ?`, id)
	}
	return s.execOne(ctx, "delete session", `DELETE FROM sessions WHERE id = ? AND user_id = ?`, id, userID)
}

// DeleteUserSessions ends every session of userID but exceptID.
func (s *Store) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`DELETE FROM sessions WHERE user_id = ? AND id <> ?`), userID, exceptID)
	if err != nil {
		return 0, s.mapErr("delete user sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), s.mapErr("delete user sessions", err)
}

// DeleteEndedSessions deletes every session past its idle deadline or
// absolute end at now, of every user.
func (s *Store) DeleteEndedSessions(ctx context.Context, now time.Time) (int, error) {
	at := utc(now)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at <= ? OR idle_expires_at <= ?`), at, at)
	if err != nil {
		return 0, s.mapErr("delete ended sessions", err)
	}
	n, err := res.RowsAffected()
	return int(n), s.mapErr("delete ended sessions", err)
}

// execOne runs a statement that must change exactly one row:
// gateway.ErrNotFound when it changed none.
func (s *Store) execOne(ctx context.Context, op, query string, args ...any) error {
	res, err := s.conn(ctx).ExecContext(ctx, s.q(query), args...)
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
	return nil
}
