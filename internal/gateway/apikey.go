package gateway

import (
	"context"
	"time"
)

// APIKey is an API key (SPEC 2.3). The secret itself is never stored: Hash
// is its SHA-256. After a rotation PrevHash is the old secret's hash,
// accepted until PrevValidUntil (the grace period).
type APIKey struct {
	ID          string
	Name        string
	Prefix      string // the first 8 characters after "tg_"
	OwnerID     string
	Role        Role
	EndUserMode bool
	// AllowedModels limits the models the key may call (empty: all);
	// MaxParallel its requests in flight (0: no cap).
	AllowedModels ModelList
	MaxParallel   int
	CreatedAt     time.Time
	ExpiresAt     *time.Time
	LastUsedAt    *time.Time
	RevokedAt     *time.Time

	Hash           [32]byte
	PrevHash       *[32]byte
	PrevValidUntil *time.Time
	UpdatedAt      time.Time
}

// NewAPIKey is the input of key creation.
type NewAPIKey struct {
	Name          string
	Role          Role // RoleNone: the creator's role
	ExpiresIn     time.Duration
	EndUserMode   bool
	AllowedModels ModelList
	MaxParallel   int
}

// APIKeyPatch is a partial update of a key (PATCH /api/keys/{id}); nil
// fields are left alone.
type APIKeyPatch struct {
	Name          *string
	AllowedModels *ModelList
	MaxParallel   *int
}

// APIKeyStore persists API keys. Lookups return ErrNotFound for a missing
// key (or one of another owner when an owner is given).
type APIKeyStore interface {
	// CreateAPIKey stores k, filling ID, CreatedAt and UpdatedAt.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKey returns the key id.
	APIKey(ctx context.Context, id string) (APIKey, error)
	// APIKeyByHash returns the key whose current or previous secret hashes
	// to h.
	APIKeyByHash(ctx context.Context, h [32]byte) (APIKey, error)
	// ListAPIKeys returns up to limit keys of ownerID ("" for every owner)
	// in creation order after cursor, and the next cursor ("" at the end).
	ListAPIKeys(ctx context.Context, ownerID, cursor string, limit int) ([]APIKey, string, error)
	// RevokeAPIKey sets revoked_at (kept if already set) on the key id of
	// ownerID ("" for any owner) and returns the stored key.
	RevokeAPIKey(ctx context.Context, id, ownerID string, at time.Time) (APIKey, error)
	// RotateAPIKey replaces the secret of the unrevoked key id of ownerID
	// ("" for any owner): the old hash stays valid until graceUntil (nil:
	// not at all).
	RotateAPIKey(ctx context.Context, id, ownerID string, hash [32]byte, prefix string, graceUntil *time.Time) (APIKey, error)
	// UpdateAPIKey applies p to the unrevoked key id of ownerID ("" for
	// any owner) and returns the stored key; ErrNotFound if there is none.
	UpdateAPIKey(ctx context.Context, id, ownerID string, p APIKeyPatch) (APIKey, error)
	// APIKeysChangedSince returns the keys created, revoked or rotated at
	// or after t (cache synchronisation between instances).
	APIKeysChangedSince(ctx context.Context, t time.Time) ([]APIKey, error)
	// TouchAPIKeys records last use times (batched; never lowers one).
	TouchAPIKeys(ctx context.Context, used map[string]time.Time) error
	// CountAPIKeys returns the number of keys, revoked ones included.
	CountAPIKeys(ctx context.Context) (int, error)
	// AnyAPIKeys reports whether a key exists, revoked ones included
	// (EXISTS: auth.mode auto needs no count).
	AnyAPIKeys(ctx context.Context) (bool, error)
}
