package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/tollgate/tollgate/internal/gateway"
)

// UserLookup returns the current user id (role, active), gateway.ErrNotFound
// when there is none; *UserCache is one.
type UserLookup interface {
	User(ctx context.Context, id string) (gateway.User, error)
}

// UserCache holds users by id for the request path, loading misses from
// the store. The identity Service keeps it current (its own writes at
// once, other instances' by push (Refresh) and on every sync tick); Keys
// reads key owners from it, so a role change or deactivation applies to
// the owner's keys at once. With a Freshness, an entry not confirmed by a
// sync or a read within auth.cache_max_staleness is refused (503). It
// holds at most size users (the API key cache's auth.key_cache_size):
// beyond it the least recently used of a sample is evicted, as Keys does,
// and read again from the database when next asked for.
type UserCache struct {
	store interface {
		User(ctx context.Context, id string) (gateway.User, error)
	}
	fresh *Freshness
	size  int
	// tick orders uses for eviction: each hit or load takes the next one.
	tick atomic.Int64
	mu   sync.RWMutex
	m    map[string]*cachedUser
}

type cachedUser struct {
	u      gateway.User
	loaded int64 // Freshness.stamp when read from the database
	used   atomic.Int64
}

// NewUserCache returns an empty cache over store holding at most size
// users (<= 0: DefaultKeyCacheSize); fresh may be nil (no staleness
// bound).
func NewUserCache(store gateway.UserStore, fresh *Freshness, size int) *UserCache {
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	return &UserCache{store: store, fresh: fresh, size: size, m: map[string]*cachedUser{}}
}

// User returns user id from the cache, loading it on a miss:
// gateway.ErrNotFound if missing, the store's error otherwise, 503
// not_ready for an entry older than auth.cache_max_staleness while the
// cache cannot sync.
func (c *UserCache) User(ctx context.Context, id string) (gateway.User, error) {
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		if err := c.fresh.check(ctx, e.loaded); err != nil {
			return gateway.User{}, err
		}
		e.used.Store(c.tick.Add(1))
		return e.u, nil
	}
	stamp := c.fresh.stamp()
	u, err := c.store.User(ctx, id)
	if err != nil {
		return u, err
	}
	c.mu.Lock()
	if cur, ok := c.m[id]; ok && cur.u.UpdatedAt.After(u.UpdatedAt) {
		u = cur.u
	} else {
		c.setLocked(u, stamp)
	}
	c.mu.Unlock()
	return u, nil
}

// put caches a freshly written user.
func (c *UserCache) put(u gateway.User) {
	stamp := c.fresh.stamp()
	c.mu.Lock()
	c.setLocked(u, stamp)
	c.mu.Unlock()
}

// setLocked caches u, read or written at stamp, as just used, evicting
// the least recently used of a sample when a new user would pass the
// size.
func (c *UserCache) setLocked(u gateway.User, stamp int64) {
	if _, ok := c.m[u.ID]; !ok && len(c.m) >= c.size {
		if victim, ok := sampleOldest(c.m, func(e *cachedUser) int64 { return e.used.Load() }); ok {
			delete(c.m, victim)
		}
	}
	e := &cachedUser{u: u, loaded: stamp}
	e.used.Store(c.tick.Add(1))
	c.m[u.ID] = e
}

// Len is the number of cached users.
func (c *UserCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// update replaces the cached entries of changed users (users not cached
// stay out: they are loaded when first asked for).
func (c *UserCache) update(changed []gateway.User) {
	stamp := c.fresh.stamp()
	c.mu.Lock()
	for _, u := range changed {
		if old, ok := c.m[u.ID]; ok {
			e := &cachedUser{u: u, loaded: stamp}
			e.used.Store(old.used.Load())
			c.m[u.ID] = e
		}
	}
	c.mu.Unlock()
}

// Refresh drops user id (changed by another instance or the CLI, as a
// push said) and reads it again; when the read fails the user stays out
// of the cache, so the next request reads the database (and fails closed
// while it is down).
func (c *UserCache) Refresh(ctx context.Context, id string) error {
	c.mu.Lock()
	_, ok := c.m[id]
	delete(c.m, id)
	c.mu.Unlock()
	if !ok {
		return nil
	}
	_, err := c.User(ctx, id)
	if errors.Is(err, gateway.ErrNotFound) {
		return nil
	}
	return err
}
