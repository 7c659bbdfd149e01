package auth

import (
	"context"
	"sync"

	"github.com/tollgate/tollgate/internal/gateway"
)

// UserLookup returns the current user id (role, active), gateway.ErrNotFound
// when there is none; *UserCache is one.
type UserLookup interface {
	User(ctx context.Context, id string) (gateway.User, error)
}

// UserCache holds users by id for the request path, loading misses from
// the store. The identity Service keeps it current (its own writes at
// once, other instances' on every sync tick); Keys reads key owners from
// it, so a role change or deactivation applies to the owner's keys at once.
type UserCache struct {
	store interface {
		User(ctx context.Context, id string) (gateway.User, error)
	}
	mu sync.RWMutex
	m  map[string]gateway.User
}

// NewUserCache returns an empty cache over store.
func NewUserCache(store gateway.UserStore) *UserCache {
	return &UserCache{store: store, m: map[string]gateway.User{}}
}

// User returns user id from the cache, loading it on a miss:
// gateway.ErrNotFound if missing, the store's error otherwise.
func (c *UserCache) User(ctx context.Context, id string) (gateway.User, error) {
	c.mu.RLock()
	u, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return u, nil
	}
	u, err := c.store.User(ctx, id)
	if err != nil {
		return u, err
	}
	c.mu.Lock()
	if cur, ok := c.m[id]; ok && cur.UpdatedAt.After(u.UpdatedAt) {
		u = cur
	} else {
		c.m[id] = u
	}
	c.mu.Unlock()
	return u, nil
}

// put caches a freshly written user.
func (c *UserCache) put(u gateway.User) {
	c.mu.Lock()
	c.m[u.ID] = u
	c.mu.Unlock()
}

// update replaces the cached entries of changed users (users not cached
// stay out: they are loaded when first asked for).
func (c *UserCache) update(changed []gateway.User) {
	c.mu.Lock()
	for _, u := range changed {
		if _, ok := c.m[u.ID]; ok {
			c.m[u.ID] = u
		}
	}
	c.mu.Unlock()
}
