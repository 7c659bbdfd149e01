package gateway

import (
	"context"
	"errors"
	"time"
)

// User is a person who logs in (SPEC 2.1). PasswordHash is a PHC string and
// is never rendered (json:"-").
type User struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Role        Role       `json:"role"`
	Active      bool       `json:"active"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	// AllowedModels limits the models the user (and every key of the
	// user) may call; MaxParallel the user's requests in flight.
	AllowedModels ModelList `json:"allowed_models,omitempty"`
	MaxParallel   int       `json:"max_parallel,omitempty"`

	PasswordHash string    `json:"-"`
	UpdatedAt    time.Time `json:"-"`
	// TokensValidAfter is the logout watermark: JWTs issued before it are
	// revoked. Zero means none.
	TokensValidAfter time.Time `json:"-"`
}

// UserPatch is a partial update of a user; nil fields are left alone.
type UserPatch struct {
	Role        *Role
	Active      *bool
	DisplayName *string
	// TokensValidAfter moves the user's "tokens valid after" watermark in
	// the same transaction (the identity service sets it on deactivation,
	// so a later reactivation does not revive older JWTs). It never moves
	// the watermark backwards.
	TokensValidAfter *time.Time
	// Password is a new password, hashed by the identity service before
	// the store sees the patch (stores ignore it).
	Password *Secret

	AllowedModels *ModelList
	MaxParallel   *int
}

// ErrLastAdmin is returned by UserStore.UpdateUser when the update would
// leave no active admin.
var ErrLastAdmin = errors.New("last active admin")

// UserStore persists users. Lookups return ErrNotFound for a missing user;
// a duplicate email (compared case-insensitively) is ErrConflict.
type UserStore interface {
	// CreateUser stores u, filling ID, CreatedAt and UpdatedAt.
	CreateUser(ctx context.Context, u *User) error
	// CreateFirstUser stores u only if no user exists; it returns
	// ErrConflict when one does (also under concurrent calls).
	CreateFirstUser(ctx context.Context, u *User) error
	User(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns up to limit users in creation order after the
	// cursor (a user id, "" for the start) and the next cursor ("" at the end).
	ListUsers(ctx context.Context, cursor string, limit int) ([]User, string, error)
	CountUsers(ctx context.Context) (int, error)
	// AnyUsers reports whether a user exists (EXISTS, not a count: the
	// start-up and auto-mode checks need no more).
	AnyUsers(ctx context.Context) (bool, error)
	// UpdateUser applies p and returns the stored user; ErrLastAdmin if it
	// would demote or deactivate the last active admin.
	UpdateUser(ctx context.Context, id string, p UserPatch) (User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
	// RecordLogin sets last_login_at.
	RecordLogin(ctx context.Context, id string, at time.Time) error
	// RevokeTokens sets TokensValidAfter (logout).
	RevokeTokens(ctx context.Context, id string, validAfter time.Time) error
	// UsersChangedSince returns the users whose row changed at or after t
	// (cache synchronisation between instances).
	UsersChangedSince(ctx context.Context, t time.Time) ([]User, error)
}
