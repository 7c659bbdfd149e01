package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/gateway"
)

// KeyPrefix starts every API key.
const KeyPrefix = "tg_"

// maxUnknownKeys bounds the negative cache.
const maxUnknownKeys = 8192

// keyLen is len("tg_") + 43 characters of base64url (256 bits).
const keyLen = len(KeyPrefix) + 43

// cachedKey is one API key as the request path sees it. Both of its
// hashes (current, and the previous one during a rotation's grace period)
// point at the same cachedKey.
type cachedKey struct {
	k gateway.APIKey
	// used is the last use this instance saw (Unix nanoseconds); flushed
	// is the last one written to the database; dirty is set while the
	// key is on the list of keys Flush writes.
	used    atomic.Int64
	flushed atomic.Int64
	dirty   atomic.Bool
	// loaded is when the entry was read from (or written to) the
	// database: Freshness.stamp.
	loaded int64
}

// DefaultKeyCacheSize is auth.key_cache_size's default.
const DefaultKeyCacheSize = 100_000

// evictionSample is how many cached keys an eviction compares (sampled
// LRU, as Redis does: O(1) per insert, no list to reorder on every hit).
const evictionSample = 8

// KeysOptions configure Keys.
type KeysOptions struct {
	Store gateway.APIKeyStore
	// Users looks up a key's owner (role, active) on the request path: the
	// UserCache the identity Service keeps current.
	Users UserLookup
	// Tokens and ExchangeTTL serve POST /api/auth/token.
	Tokens      *Tokens
	ExchangeTTL time.Duration
	// Static resolves exchanged JWTs of static tokens.
	Static *StaticTokens
	Now    func() time.Time
	// CacheSize bounds the keys held in memory (auth.key_cache_size;
	// <= 0: DefaultKeyCacheSize); beyond it the least recently used of a
	// sample is evicted (it verifies again from the database on its next
	// use).
	CacheSize int
	// Freshness bounds how long a cached key is trusted while the cache
	// cannot sync (nil: no bound).
	Freshness *Freshness
	// Audit records key changes and exchanges (nil: nothing is recorded).
	Audit gateway.Auditor
}

// Keys manages API keys and verifies them on the request path from an
// in-memory cache keyed by the SHA-256 of the secret. It is a Verifier
// (tg_ keys on Bearer and X-API-Key alike) and resolves exchanged JWTs.
type Keys struct {
	opt   KeysOptions
	users UserLookup
	now   atomic.Pointer[func() time.Time]
	// created is set once this instance created a key (HoldsCredentials).
	created atomic.Bool

	mu     sync.RWMutex
	byHash map[[32]byte]*cachedKey
	byID   map[string]*cachedKey
	// unknown remembers hashes the database does not hold, so a flood of
	// made-up tg_ keys costs no query each. A fresh key's hash is 256
	// random bits, never seen before; put clears it anyway.
	unknown map[[32]byte]struct{}

	syncMu   sync.Mutex
	lastSync time.Time

	// dirty are the keys used since the last Flush (each once).
	dirtyMu sync.Mutex
	dirty   []*cachedKey
}

// NewKeys returns the key manager.
func NewKeys(opt KeysOptions) *Keys {
	if opt.ExchangeTTL <= 0 {
		opt.ExchangeTTL = time.Hour
	}
	if opt.CacheSize <= 0 {
		opt.CacheSize = DefaultKeyCacheSize
	}
	opt.Audit = auditorOr(opt.Audit)
	k := &Keys{opt: opt, users: opt.Users, byHash: map[[32]byte]*cachedKey{}, byID: map[string]*cachedKey{}, unknown: map[[32]byte]struct{}{}}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	k.now.Store(&now)
	return k
}

// HoldsCredentials implements CredentialHolder: it reports whether this
// instance created a key, so auth.mode auto turns required at once.
func (ks *Keys) HoldsCredentials() bool { return ks.created.Load() }

// SetNow replaces the clock (tests: expiry and grace periods without
// sleeping).
func (ks *Keys) SetNow(now func() time.Time) { ks.now.Store(&now) }

func (ks *Keys) clock() time.Time { return (*ks.now.Load())() }

var errKeyNotFound = gateway.NotFound("not_found", "No such API key")

// put caches k, just read from or written to the database, under its
// current and (in grace) previous hash, replacing any earlier entries of
// the same key id and evicting beyond the cache size.
func (ks *Keys) put(k gateway.APIKey) *cachedKey {
	ck := &cachedKey{k: k, loaded: ks.opt.Freshness.stamp()}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if old, ok := ks.byID[k.ID]; ok {
		ks.dropLocked(old)
		ck.used.Store(old.used.Load())
		ck.flushed.Store(old.flushed.Load())
	} else if len(ks.byID) >= ks.opt.CacheSize {
		ks.evictLocked()
	}
	ks.byID[k.ID] = ck
	ks.byHash[k.Hash] = ck
	delete(ks.unknown, k.Hash)
	if k.PrevHash != nil {
		ks.byHash[*k.PrevHash] = ck
	}
	return ck
}

// dropLocked removes ck from the maps. A use not yet flushed stays on the
// dirty list, so it is still written.
func (ks *Keys) dropLocked(ck *cachedKey) {
	delete(ks.byID, ck.k.ID)
	delete(ks.byHash, ck.k.Hash)
	if ck.k.PrevHash != nil {
		delete(ks.byHash, *ck.k.PrevHash)
	}
}

// evictLocked drops the least recently used (or loaded) of a few cached
// keys (sampleOldest).
func (ks *Keys) evictLocked() {
	if id, ok := sampleOldest(ks.byID, func(ck *cachedKey) int64 { return max(ck.used.Load(), ck.loaded) }); ok {
		ks.dropLocked(ks.byID[id])
	}
}

// sampleOldest returns the key of the entry of m with the smallest age
// among evictionSample of them; Go's map iteration starts at a random
// place, so the sample is spread over the map. ok is false for an empty m.
func sampleOldest[K comparable, V any](m map[K]V, age func(V) int64) (victim K, ok bool) {
	var oldest int64
	n := 0
	for k, v := range m {
		if a := age(v); !ok || a < oldest {
			victim, oldest, ok = k, a, true
		}
		if n++; n == evictionSample {
			break
		}
	}
	return victim, ok
}

// Len is the number of cached keys.
func (ks *Keys) Len() int {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return len(ks.byID)
}

// Refresh drops key id (changed by another instance or the CLI, as a
// push said) and reads it again; when the read fails the key stays out of
// the cache, so its next use reads the database (and fails closed while
// it is down).
func (ks *Keys) Refresh(ctx context.Context, id string) error {
	ks.mu.Lock()
	old, ok := ks.byID[id]
	if ok {
		ks.dropLocked(old)
	}
	ks.mu.Unlock()
	if !ok {
		return nil
	}
	k, err := ks.opt.Store.APIKey(ctx, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	ck := ks.put(k)
	ck.used.Store(max(ck.used.Load(), old.used.Load()))
	ck.flushed.Store(max(ck.flushed.Load(), old.flushed.Load()))
	return nil
}

// Verify implements Verifier for "tg_" keys on any transport: 401
// invalid_authorization for an unknown, revoked or expired key, a
// previous secret after its grace period, or an inactive owner. A warm
// cache answers without a database read.
func (ks *Keys) Verify(ctx context.Context, cred Credential) (*gateway.Principal, error) {
	v := cred.Value.Reveal()
	if !strings.HasPrefix(v, KeyPrefix) || cred.Transport == TransportSession {
		return nil, nil
	}
	if len(v) != keyLen {
		return nil, errInvalidToken
	}
	var buf [keyLen]byte
	copy(buf[:], v)
	h := sha256.Sum256(buf[:])
	ks.mu.RLock()
	ck, ok := ks.byHash[h]
	_, unknown := ks.unknown[h]
	ks.mu.RUnlock()
	if unknown {
		return nil, errInvalidToken
	}
	if !ok {
		k, err := ks.opt.Store.APIKeyByHash(ctx, h)
		if errors.Is(err, gateway.ErrNotFound) {
			ks.mu.Lock()
			if len(ks.unknown) >= maxUnknownKeys {
				clear(ks.unknown)
			}
			ks.unknown[h] = struct{}{}
			ks.mu.Unlock()
			return nil, errInvalidToken
		}
		if err != nil {
			return nil, gateway.Internal("verify api key", err)
		}
		ck = ks.put(k)
	}
	now := ks.clock()
	if ck.k.Hash != h && (ck.k.PrevValidUntil == nil || !now.Before(*ck.k.PrevValidUntil)) {
		return nil, errInvalidToken
	}
	return ks.principal(ctx, ck, now)
}

// principal checks revocation, expiry and the owner, records the use and
// returns the key's principal with role min(key role, owner's role).
func (ks *Keys) principal(ctx context.Context, ck *cachedKey, now time.Time) (*gateway.Principal, error) {
	k := &ck.k
	if k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		return nil, errInvalidToken
	}
	if err := ks.opt.Freshness.check(ctx, ck.loaded); err != nil {
		return nil, err
	}
	u, err := ks.users.User(ctx, k.OwnerID)
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, errInvalidToken
		}
		return nil, gateway.Internal("verify api key", err)
	}
	if !u.Active {
		return nil, errInvalidToken
	}
	if n := now.UnixNano(); ck.used.Load() < n {
		ck.used.Store(n)
	}
	if !ck.dirty.Load() && ck.dirty.CompareAndSwap(false, true) {
		ks.dirtyMu.Lock()
		ks.dirty = append(ks.dirty, ck)
		ks.dirtyMu.Unlock()
	}
	return &gateway.Principal{Kind: gateway.PrincipalKey, UserID: u.ID, Email: u.Email, DisplayName: u.DisplayName,
		Role: gateway.MinRole(k.Role, u.Role), KeyID: k.ID, KeyName: k.Name, KeyPrefix: k.Prefix, KeyRole: k.Role,
		OwnerRole:   u.Role,
		EndUserMode: k.EndUserMode,
		KeyModels:   k.AllowedModels, UserModels: u.AllowedModels, KeyMaxParallel: k.MaxParallel, UserMaxParallel: u.MaxParallel}, nil
}

// byKeyID returns the cached key id, loading it on a miss.
func (ks *Keys) byKeyID(ctx context.Context, id string) (*cachedKey, error) {
	ks.mu.RLock()
	ck, ok := ks.byID[id]
	ks.mu.RUnlock()
	if ok {
		return ck, nil
	}
	k, err := ks.opt.Store.APIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	return ks.put(k), nil
}

// Sync reloads the keys changed since the last sync (revoked, rotated or
// created by other instances). The identity Service calls it, then Flush,
// on every sync tick.
func (ks *Keys) Sync(ctx context.Context) error {
	ks.syncMu.Lock()
	defer ks.syncMu.Unlock()
	start := time.Now()
	since := ks.lastSync.Add(-syncOverlap)
	if ks.lastSync.IsZero() {
		since = start.Add(-syncOverlap)
	}
	changed, err := ks.opt.Store.APIKeysChangedSince(ctx, since)
	if err != nil {
		return err
	}
	for _, k := range changed {
		ks.mu.RLock()
		_, cached := ks.byID[k.ID]
		ks.mu.RUnlock()
		if cached {
			ks.put(k)
		}
	}
	ks.lastSync = start
	return nil
}

// Flush writes the last use times recorded since the previous flush, of
// the keys used since (evicted ones included), in one statement. On
// failure they stay to be written by the next flush.
func (ks *Keys) Flush(ctx context.Context) error {
	ks.dirtyMu.Lock()
	list := ks.dirty
	ks.dirty = nil
	ks.dirtyMu.Unlock()
	if len(list) == 0 {
		return nil
	}
	used := make(map[string]time.Time, len(list))
	for _, ck := range list {
		ck.dirty.Store(false) // a use from now on lists it again
		if u := ck.used.Load(); u > ck.flushed.Load() {
			if t, ok := used[ck.k.ID]; !ok || t.UnixNano() < u {
				used[ck.k.ID] = time.Unix(0, u)
			}
		}
	}
	if len(used) == 0 {
		return nil
	}
	if err := ks.opt.Store.TouchAPIKeys(ctx, used); err != nil {
		ks.dirtyMu.Lock()
		for _, ck := range list {
			if ck.dirty.CompareAndSwap(false, true) {
				ks.dirty = append(ks.dirty, ck)
			}
		}
		ks.dirtyMu.Unlock()
		return err
	}
	for _, ck := range list {
		if t, ok := used[ck.k.ID]; ok && ck.flushed.Load() < t.UnixNano() {
			ck.flushed.Store(t.UnixNano())
		}
	}
	return nil
}

// newSecret returns a fresh key, its hash and its prefix.
func newSecret() (gateway.Secret, [32]byte, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [32]byte{}, "", err
	}
	s := KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return gateway.Secret(s), sha256.Sum256([]byte(s)), s[len(KeyPrefix) : len(KeyPrefix)+8], nil
}

// CreateKey creates a key for ownerID whose role may not exceed maxRole
// (the creator's effective role): 400 missing_field/invalid_field for the
// name, role or expiry. It returns the key and its secret, shown once.
func (ks *Keys) CreateKey(ctx context.Context, ownerID string, maxRole gateway.Role, in gateway.NewAPIKey) (gateway.APIKey, gateway.Secret, error) {
	if in.Name == "" {
		return gateway.APIKey{}, "", gateway.Invalid("missing_field", "body.name", "name is required")
	}
	if !utf8.ValidString(in.Name) || utf8.RuneCountInString(in.Name) > 200 {
		return gateway.APIKey{}, "", gateway.Invalid("invalid_field", "body.name", "name must be at most 200 characters")
	}
	if in.Role == gateway.RoleNone {
		in.Role = maxRole
	}
	if !in.Role.AtLeast(gateway.RoleViewer) || in.Role > maxRole {
		return gateway.APIKey{}, "", gateway.Invalid("invalid_field", "body.role", "role may not exceed your own role ("+maxRole.String()+")")
	}
	if in.ExpiresIn < 0 {
		return gateway.APIKey{}, "", gateway.Invalid("invalid_field", "body.expires_in_seconds", "expires_in_seconds must be positive")
	}
	secret, hash, prefix, err := newSecret()
	if err != nil {
		return gateway.APIKey{}, "", gateway.Internal("create api key", err)
	}
	if err := checkAccess(in.AllowedModels, in.MaxParallel); err != nil {
		return gateway.APIKey{}, "", err
	}
	k := gateway.APIKey{Name: in.Name, Prefix: prefix, OwnerID: ownerID, Role: in.Role, EndUserMode: in.EndUserMode, Hash: hash,
		AllowedModels: in.AllowedModels, MaxParallel: in.MaxParallel}
	if in.ExpiresIn > 0 {
		exp := ks.clock().Add(in.ExpiresIn).UTC()
		k.ExpiresAt = &exp
	}
	if err := ks.opt.Audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		err := ks.opt.Store.CreateAPIKey(ctx, &k)
		return one(gateway.AuditEvent{Action: gateway.AuditKeyCreated, Target: keyRef(k.ID), Details: map[string]any{
			"name": k.Name, "prefix": k.Prefix, "owner_id": k.OwnerID, "role": k.Role.String(), "end_user_mode": k.EndUserMode}}, err)
	}); err != nil {
		return gateway.APIKey{}, "", gateway.Internal("create api key", err)
	}
	ks.put(k)
	ks.created.Store(true)
	return k, secret, nil
}

// checkAccess validates allowed_models and max_parallel: 400
// invalid_field naming the field.
func checkAccess(models gateway.ModelList, maxParallel int) error {
	if len(models) > 100 {
		return gateway.Invalid("invalid_field", "body.allowed_models", "allowed_models holds at most 100 entries")
	}
	for _, m := range models {
		if !gateway.ValidModelPattern(m) {
			return gateway.Invalid("invalid_field", "body.allowed_models", "allowed_models entries are model names or prefix* patterns")
		}
	}
	if maxParallel < 0 || maxParallel > 1_000_000 {
		return gateway.Invalid("invalid_field", "body.max_parallel", "max_parallel must be from 0 (no cap) to 1000000")
	}
	return nil
}

// UpdateKey applies p to the unrevoked key id of ownerID ("" for any
// owner): 404 not_found for another owner's key or none, 400
// invalid_field for a bad name, allowed_models or max_parallel. This
// instance sees the change at once, others at their next sync.
func (ks *Keys) UpdateKey(ctx context.Context, id, ownerID string, p gateway.APIKeyPatch) (gateway.APIKey, error) {
	if p.Name != nil && (*p.Name == "" || !utf8.ValidString(*p.Name) || utf8.RuneCountInString(*p.Name) > 200) {
		return gateway.APIKey{}, gateway.Invalid("invalid_field", "body.name", "name must be 1 to 200 characters")
	}
	var models gateway.ModelList
	if p.AllowedModels != nil {
		models = *p.AllowedModels
	}
	mp := 0
	if p.MaxParallel != nil {
		mp = *p.MaxParallel
	}
	if err := checkAccess(models, mp); err != nil {
		return gateway.APIKey{}, err
	}
	var k gateway.APIKey
	err := ks.opt.Audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		var err error
		k, err = ks.opt.Store.UpdateAPIKey(ctx, id, ownerID, p)
		return one(gateway.AuditEvent{Action: "key.updated", Target: keyRef(id), Details: map[string]any{"owner_id": k.OwnerID}}, err)
	})
	if err != nil {
		return gateway.APIKey{}, keyStoreErr("update api key", err)
	}
	ks.put(k)
	return k, nil
}

// Key returns the key id of ownerID ("" for any owner): 404 not_found for
// another owner's key or none.
func (ks *Keys) Key(ctx context.Context, id, ownerID string) (gateway.APIKey, error) {
	k, err := ks.opt.Store.APIKey(ctx, id)
	if err != nil {
		return gateway.APIKey{}, keyStoreErr("get api key", err)
	}
	if ownerID != "" && k.OwnerID != ownerID {
		return gateway.APIKey{}, errKeyNotFound
	}
	return k, nil
}

// ListKeys lists the keys of ownerID ("" for every owner).
func (ks *Keys) ListKeys(ctx context.Context, ownerID, cursor string, limit int) ([]gateway.APIKey, string, error) {
	keys, next, err := ks.opt.Store.ListAPIKeys(ctx, ownerID, cursor, limit)
	if err != nil {
		return nil, "", gateway.Internal("list api keys", err)
	}
	return keys, next, nil
}

// RevokeKey revokes the key id of ownerID ("" for any owner; 404
// not_found for a key of another owner or none). It takes effect on this
// instance's next request and on others at their next sync.
func (ks *Keys) RevokeKey(ctx context.Context, id, ownerID string) error {
	var k gateway.APIKey
	err := ks.opt.Audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		var err error
		k, err = ks.opt.Store.RevokeAPIKey(ctx, id, ownerID, ks.clock())
		return one(gateway.AuditEvent{Action: gateway.AuditKeyRevoked, Target: keyRef(id), Details: map[string]any{"owner_id": k.OwnerID}}, err)
	})
	if err != nil {
		return keyStoreErr("revoke api key", err)
	}
	ks.put(k)
	return nil
}

// RotateKey gives the unrevoked key id of ownerID ("" for any owner) a new
// secret; the old one works for grace more (0: not at all). 404 not_found
// for a missing, revoked or foreign key.
func (ks *Keys) RotateKey(ctx context.Context, id, ownerID string, grace time.Duration) (gateway.APIKey, gateway.Secret, error) {
	if grace < 0 {
		return gateway.APIKey{}, "", gateway.Invalid("invalid_field", "body.grace_seconds", "grace_seconds must not be negative")
	}
	secret, hash, prefix, err := newSecret()
	if err != nil {
		return gateway.APIKey{}, "", gateway.Internal("rotate api key", err)
	}
	var until *time.Time
	if grace > 0 {
		t := ks.clock().Add(grace).UTC()
		until = &t
	}
	var k gateway.APIKey
	err = ks.opt.Audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		var err error
		k, err = ks.opt.Store.RotateAPIKey(ctx, id, ownerID, hash, prefix, until)
		return one(gateway.AuditEvent{Action: gateway.AuditKeyRotated, Target: keyRef(id),
			Details: map[string]any{"owner_id": k.OwnerID, "prefix": k.Prefix, "grace_seconds": int(grace / time.Second)}}, err)
	})
	if err != nil {
		return gateway.APIKey{}, "", keyStoreErr("rotate api key", err)
	}
	ks.put(k)
	return k, secret, nil
}

func keyStoreErr(op string, err error) error {
	if errors.Is(err, gateway.ErrNotFound) {
		return errKeyNotFound
	}
	return gateway.Internal(op, err)
}

// Exchange issues a JWT for the key or static token p authenticated with
// (POST /api/auth/token): 401 invalid_authorization for any other
// credential, including an exchanged JWT.
func (ks *Keys) Exchange(ctx context.Context, p *gateway.Principal) (gateway.Secret, int, error) {
	var sub string
	switch {
	case p.Exchanged:
	case p.Kind == gateway.PrincipalKey && p.KeyID != "":
		sub = "key:" + p.KeyID
	case p.Kind == gateway.PrincipalStatic:
		sub = "static:" + p.StaticName
	}
	if sub == "" || ks.opt.Tokens == nil {
		return "", 0, gateway.E(gateway.KindUnauthenticated, "invalid_authorization", "Only an API key or a static token can be exchanged for an access token")
	}
	tok, _, err := ks.opt.Tokens.Issue(sub, TokenTypeExchange, ks.opt.ExchangeTTL)
	if err != nil {
		return "", 0, gateway.Internal("exchange", err)
	}
	target := keyRef(p.KeyID)
	if p.Kind == gateway.PrincipalStatic {
		target = &gateway.AuditRef{Type: "static", ID: p.StaticName}
	}
	ks.opt.Audit.Record(ctx, gateway.AuditEvent{Action: gateway.AuditKeyExchanged, Target: target,
		Details: map[string]any{"expires_in": int(ks.opt.ExchangeTTL / time.Second)}})
	return tok, int(ks.opt.ExchangeTTL / time.Second), nil
}

// ResolveExchange implements ExchangeResolver: the principal of the key
// (through the cache; revocation, expiry and the owner's role and state
// apply as for the key itself) or of the static token still configured.
func (ks *Keys) ResolveExchange(ctx context.Context, sub string) (*gateway.Principal, error) {
	var p *gateway.Principal
	switch kind, id, _ := strings.Cut(sub, ":"); kind {
	case "key":
		ck, err := ks.byKeyID(ctx, id)
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, errInvalidToken
		}
		if err != nil {
			return nil, gateway.Internal("resolve exchanged token", err)
		}
		if p, err = ks.principal(ctx, ck, ks.clock()); err != nil {
			return nil, err
		}
	case "static":
		if ks.opt.Static == nil {
			return nil, errInvalidToken
		}
		t, ok := ks.opt.Static.byName(id)
		if !ok {
			return nil, errInvalidToken
		}
		p = staticPrincipal(t)
	default:
		return nil, errInvalidToken
	}
	p.Exchanged = true
	return p, nil
}
