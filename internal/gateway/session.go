package gateway

import (
	"context"
	"time"
)

// Session is a browser session (SPEC 4). The secret cookie value and the
// CSRF token are stored only as SHA-256 (TokenHash, CSRFHash); Token and
// CSRFToken hold the plain values only in the answer of the call that made
// them (login, refresh) and are never stored or logged (Secret).
type Session struct {
	// ID is the public handle of the session (list, revoke). It is not a
	// credential and stays the same when the secret rotates.
	ID     string
	UserID string

	TokenHash [32]byte
	CSRFHash  [32]byte

	CreatedAt  time.Time
	LastSeenAt time.Time
	// IdleExpiresAt is the idle deadline (last use + auth.session_idle,
	// never after ExpiresAt); ExpiresAt is the absolute end.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time

	UserAgent string
	IP        string

	// Token and CSRFToken are the plain secrets, set only on a session just
	// started or rotated.
	Token     Secret
	CSRFToken Secret
}

// SessionStore persists browser sessions. Lookups return ErrNotFound for
// a missing session. Times are stored as given (UTC, microseconds).
type SessionStore interface {
	// CreateSession stores s (filling ID) and, in the same transaction,
	// deletes the user's sessions beyond the newest max (max <= 0: no cap)
	// and the user's sessions that ended before s.CreatedAt.
	CreateSession(ctx context.Context, s *Session, max int) error
	// SessionByHash returns the session whose secret hashes to h.
	SessionByHash(ctx context.Context, h [32]byte) (Session, error)
	// RotateSession replaces the secret and CSRF hashes of session id if
	// its secret still hashes to old (ErrNotFound otherwise: ended or
	// rotated meanwhile) and moves its last use and idle deadline.
	RotateSession(ctx context.Context, id string, old, token, csrf [32]byte, lastSeen, idleUntil time.Time) error
	// TouchSession moves the last use and idle deadline of session id.
	TouchSession(ctx context.Context, id string, lastSeen, idleUntil time.Time) error
	// ListSessions returns the user's sessions, newest first.
	ListSessions(ctx context.Context, userID string) ([]Session, error)
	// DeleteSession ends session id of userID ("" for any user):
	// ErrNotFound when there is no such session of that user.
	DeleteSession(ctx context.Context, id, userID string) error
	// DeleteUserSessions ends every session of userID except exceptID
	// ("" for none) and returns how many ended.
	DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error)
	// DeleteEndedSessions deletes every session whose idle deadline or
	// absolute end is at or before now (the background sweep) and returns
	// how many it deleted.
	DeleteEndedSessions(ctx context.Context, now time.Time) (int, error)
}
