package gateway

import (
	"context"
	"time"
)

// UserIdentity links an external sign-in account (OAuth 2.0 / OpenID
// Connect, SPEC 4) to a user. (Provider, Subject) is the provider's
// immutable account id, never an email: Provider is the configured
// [[auth.oauth]] name, Subject the ID token's sub (oidc, apple) or the
// numeric GitHub user id. Email is the verified email seen at the last
// sign-in, for display only.
type UserIdentity struct {
	Provider    string
	Subject     string
	UserID      string
	Email       string
	CreatedAt   time.Time
	LastLoginAt *time.Time
}

// UserIdentityStore persists external identities.
type UserIdentityStore interface {
	// UserIdentity returns the identity (provider, subject), or ErrNotFound.
	UserIdentity(ctx context.Context, provider, subject string) (UserIdentity, error)
	// LinkUserIdentity stores id for an existing user, filling CreatedAt:
	// ErrConflict when (provider, subject) is already linked (to anyone),
	// ErrNotFound when the user does not exist.
	LinkUserIdentity(ctx context.Context, id *UserIdentity) error
	// CreateUserWithIdentity stores a new user and its identity in one
	// transaction (id.UserID is set from the new user): ErrConflict when
	// the email is taken or (provider, subject) is already linked, and
	// then neither is stored.
	CreateUserWithIdentity(ctx context.Context, u *User, id *UserIdentity) error
	// UserIdentities lists a user's identities, oldest first.
	UserIdentities(ctx context.Context, userID string) ([]UserIdentity, error)
	// RecordIdentityLogin sets the identity's last_login_at and email, and
	// the user's last_login_at.
	RecordIdentityLogin(ctx context.Context, provider, subject, email string, at time.Time) error
}
