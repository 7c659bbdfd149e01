package auth

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// touchCounting counts TouchAPIKeys calls and the keys they carried.
type touchCounting struct {
	gateway.APIKeyStore
	calls, keys atomic.Int32
	byHash      atomic.Int32
}

func (c *touchCounting) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	c.calls.Add(1)
	c.keys.Add(int32(len(used)))
	return c.APIKeyStore.TouchAPIKeys(ctx, used)
}

func (c *touchCounting) APIKeyByHash(ctx context.Context, h [32]byte) (gateway.APIKey, error) {
	c.byHash.Add(1)
	return c.APIKeyStore.APIKeyByHash(ctx, h)
}

// manyKeys creates n keys of one contributor through a Keys with the given
// cache size; it returns the Keys, the counting store and the secrets.
func manyKeys(t *testing.T, n, size int) (*Keys, *touchCounting, []gateway.Secret, []string) {
	t.Helper()
	ctx := context.Background()
	st := sqltest.SQLite(t)
	store := &touchCounting{APIKeyStore: st}
	users := NewUserCache(st, nil, 0)
	keys := NewKeys(KeysOptions{Store: store, Users: users, CacheSize: size})
	s := New(Options{Users: st, Cache: users, Mode: ModeRequired, Verifiers: []Verifier{keys}, Password: cheap})
	u, err := s.CreateUser(ctx, gateway.NewUser{Email: "c@example.com", Password: "key owner pass", Role: gateway.RoleContributor})
	if err != nil {
		t.Fatal(err)
	}
	secrets, ids := make([]gateway.Secret, n), make([]string, n)
	for i := range n {
		k, secret, err := keys.CreateKey(ctx, u.ID, u.Role, gateway.NewAPIKey{Name: fmt.Sprint("k", i)})
		if err != nil {
			t.Fatal(err)
		}
		secrets[i], ids[i] = secret, k.ID
	}
	return keys, store, secrets, ids
}

// TestKeyCacheIsBounded: the cache never holds more than
// auth.key_cache_size keys, an evicted key still verifies (from the
// database), and an evicted key revoked elsewhere is refused.
func TestKeyCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const size, n = 100, 350
	keys, store, secrets, ids := manyKeys(t, n, size)
	if got := keys.Len(); got > size {
		t.Fatalf("cache holds %d keys after creating %d, want at most %d", got, n, size)
	}
	for round := range 2 {
		for i, s := range secrets {
			p, err := keys.Verify(ctx, Credential{Transport: TransportAPIKey, Value: s})
			if err != nil || p == nil || p.KeyID != ids[i] {
				t.Fatalf("round %d key %d: Verify = %+v, %v", round, i, p, err)
			}
			if got := keys.Len(); got > size {
				t.Fatalf("cache holds %d keys, want at most %d", got, size)
			}
		}
	}
	if store.byHash.Load() < n-size {
		t.Fatalf("database lookups = %d: evicted keys were not read again", store.byHash.Load())
	}
	// Revoked by another instance while evicted here: refused.
	other := NewKeys(KeysOptions{Store: store, Users: keys.users})
	if err := other.RevokeKey(ctx, ids[0], ""); err != nil {
		t.Fatal(err)
	}
	keys.mu.Lock()
	if ck, ok := keys.byID[ids[0]]; ok {
		keys.dropLocked(ck)
	}
	keys.mu.Unlock()
	_, err := keys.Verify(ctx, Credential{Transport: TransportAPIKey, Value: secrets[0]})
	if ge, ok := gateway.AsError(err); !ok || ge.Code != "invalid_authorization" {
		t.Fatalf("revoked evicted key: err = %v, want invalid_authorization", err)
	}
}

// TestKeyLastUseFlushedInOneStatement: every key used since the last
// flush, evicted ones included, is written by one TouchAPIKeys call; a
// flush with nothing used writes nothing.
func TestKeyLastUseFlushedInOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const size, n = 100, 400
	keys, store, secrets, ids := manyKeys(t, n, size)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	keys.SetNow(func() time.Time { return at })
	for _, s := range secrets {
		if _, err := keys.Verify(ctx, Credential{Transport: TransportAPIKey, Value: s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := keys.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c, k := store.calls.Load(), store.keys.Load(); c != 1 || k != n {
		t.Fatalf("flush wrote %d keys in %d calls, want %d in 1", k, c, n)
	}
	for _, id := range ids {
		k, err := store.APIKey(ctx, id)
		if err != nil || k.LastUsedAt == nil || !k.LastUsedAt.Equal(at) {
			t.Fatalf("key %s last_used_at = %v, %v; want %v", id, k.LastUsedAt, err, at)
		}
	}
	if err := keys.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c := store.calls.Load(); c != 1 {
		t.Fatalf("an idle flush wrote: %d calls", c)
	}
}

// TestFreshness: a cached entry is trusted up to max past the later of the
// last successful sync and its own read; then 503 not_ready, logged once
// per outage, and the recovery is logged.
func TestFreshness(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1_000_000, 0)
	f := &Freshness{max: time.Minute, log: slog.New(slog.NewTextHandler(&logs, nil)), now: func() time.Time { return now }}
	f.Synced(now)
	ctx := context.Background()
	old := now.Add(-time.Hour).UnixNano()
	for _, tc := range []struct {
		name    string
		after   time.Duration
		loaded  int64
		refused bool
	}{
		{"JustSynced", 0, old, false},
		{"AtTheBound", time.Minute, old, false},
		{"PastTheBound", time.Minute + time.Nanosecond, old, true},
		{"ReadSinceTheSync", 90 * time.Second, now.Add(45 * time.Second).UnixNano(), false},
		{"ReadLongAgo", 2 * time.Minute, now.Add(30 * time.Second).UnixNano(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.now = func() time.Time { return now.Add(tc.after) }
			err := f.check(ctx, tc.loaded)
			if !tc.refused {
				if err != nil {
					t.Fatalf("check = %v, want nil", err)
				}
				return
			}
			w := gateway.ToWire(err)
			if w.Status != 503 || w.Body.Error.Code != "not_ready" || w.Cause.RetryAfter != gateway.UnavailableRetryAfter {
				t.Fatalf("check = %d %s retry %d, want 503 not_ready", w.Status, w.Body.Error.Code, w.Cause.RetryAfter)
			}
		})
	}
	if n := strings.Count(logs.String(), "credential cache cannot sync"); n != 1 {
		t.Fatalf("refusals logged %d times, want once:\n%s", n, logs.String())
	}
	f.Synced(now.Add(3 * time.Minute))
	if !strings.Contains(logs.String(), "in sync with the database again") {
		t.Fatal("recovery not logged")
	}
	f.now = func() time.Time { return now.Add(3*time.Minute + time.Second) }
	if err := f.check(ctx, old); err != nil {
		t.Fatalf("after the sync: %v", err)
	}
	var none *Freshness
	if err := none.check(ctx, 0); err != nil {
		t.Fatal("a nil Freshness refused")
	}
}

// BenchmarkKeyCacheHeap touches 10^5 distinct keys through caches of
// 10^4 (bounded) and 2*10^5 (holds them all) entries and reports the heap
// each cache keeps afterwards (heap-MB, B/key-touched).
func BenchmarkKeyCacheHeap(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	st := sqltest.SQLite(b)
	users := NewUserCache(st, nil, 0)
	owner := &gateway.User{Email: "o@example.com", Role: gateway.RoleContributor, Active: true}
	if err := st.CreateUser(ctx, owner); err != nil {
		b.Fatal(err)
	}
	secrets := make([]gateway.Secret, n)
	for i := range n {
		secret, hash, prefix, err := newSecret()
		if err != nil {
			b.Fatal(err)
		}
		k := gateway.APIKey{Name: fmt.Sprint("bench", i), Prefix: prefix, OwnerID: owner.ID, Role: gateway.RoleContributor, Hash: hash}
		if err := st.CreateAPIKey(ctx, &k); err != nil {
			b.Fatal(err)
		}
		secrets[i] = secret
	}
	for _, size := range []int{10_000, 2 * n} {
		b.Run(fmt.Sprint("size=", size), func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				keys := NewKeys(KeysOptions{Store: st, Users: users, CacheSize: size})
				for _, s := range secrets {
					if _, err := keys.Verify(ctx, Credential{Transport: TransportAPIKey, Value: s}); err != nil {
						b.Fatal(err)
					}
				}
				if err := keys.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				grown := float64(after.HeapAlloc) - float64(before.HeapAlloc)
				b.ReportMetric(grown/1e6, "heap-MB")
				b.ReportMetric(grown/n, "B/key-touched")
				b.ReportMetric(float64(keys.Len()), "cached-keys")
				runtime.KeepAlive(keys)
			}
		})
	}
}

// userLookups counts the user reads that reach the database.
type userLookups struct {
	gateway.UserStore
	n atomic.Int32
}

func (c *userLookups) User(ctx context.Context, id string) (gateway.User, error) {
	c.n.Add(1)
	return c.UserStore.User(ctx, id)
}

// TestUserCacheIsBounded: the user cache behind the key cache holds at
// most its size, an evicted user's key still verifies (its owner read
// again from the database), and an evicted owner deactivated elsewhere
// is read again with its new state, so the key is refused.
func TestUserCacheIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const size, n = 100, 250
	st := sqltest.SQLite(t)
	store := &userLookups{UserStore: st}
	users := NewUserCache(store, nil, size)
	keys := NewKeys(KeysOptions{Store: st, Users: users, CacheSize: 10 * n})
	owners, secrets := make([]string, n), make([]gateway.Secret, n)
	for i := range n {
		u := &gateway.User{Email: fmt.Sprintf("u%d@example.com", i), Role: gateway.RoleContributor, Active: true}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, secret, err := keys.CreateKey(ctx, u.ID, u.Role, gateway.NewAPIKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		owners[i], secrets[i] = u.ID, secret
	}
	for round := range 2 {
		for i, s := range secrets {
			p, err := keys.Verify(ctx, Credential{Transport: TransportAPIKey, Value: s})
			if err != nil || p == nil || p.UserID != owners[i] {
				t.Fatalf("round %d key %d: Verify = %+v, %v; want owner %s", round, i, p, err, owners[i])
			}
			if got := users.Len(); got > size {
				t.Fatalf("user cache holds %d users, want at most %d", got, size)
			}
		}
	}
	if got := store.n.Load(); got < 2*(n-size) {
		t.Fatalf("database user reads = %d: evicted users were not read again (want at least %d)", got, 2*(n-size))
	}
	// Owner 0 dropped as an eviction drops it, then deactivated by
	// another instance: read again, its key is refused.
	users.mu.Lock()
	delete(users.m, owners[0])
	users.mu.Unlock()
	inactive := false
	if _, err := st.UpdateUser(ctx, owners[0], gateway.UserPatch{Active: &inactive}); err != nil {
		t.Fatal(err)
	}
	_, err := keys.Verify(ctx, Credential{Transport: TransportAPIKey, Value: secrets[0]})
	if ge, ok := gateway.AsError(err); !ok || ge.Code != "invalid_authorization" {
		t.Fatalf("key of an evicted, deactivated owner: err = %v, want invalid_authorization", err)
	}
}
