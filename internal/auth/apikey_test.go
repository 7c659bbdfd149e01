package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// countingKeys counts the database lookups by hash.
type countingKeys struct {
	gateway.APIKeyStore
	byHash atomic.Int32
}

func (c *countingKeys) APIKeyByHash(ctx context.Context, h [32]byte) (gateway.APIKey, error) {
	c.byHash.Add(1)
	return c.APIKeyStore.APIKeyByHash(ctx, h)
}

func TestKeysCacheReadsTheDatabaseOnlyOnMisses(t *testing.T) {
	ctx := context.Background()
	st := sqltest.SQLite(t)
	store := &countingKeys{APIKeyStore: st}
	users := NewUserCache(st, nil, 0)
	keys := NewKeys(KeysOptions{Store: store, Users: users})
	s := New(Options{Users: st, Cache: users, Mode: ModeRequired, Verifiers: []Verifier{keys}, Password: cheap})
	u, err := s.CreateUser(ctx, gateway.NewUser{Email: "c@example.com", Password: "key owner pass", Role: gateway.RoleContributor})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := keys.CreateKey(ctx, u.ID, u.Role, gateway.NewAPIKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	// A second instance: cold cache.
	other := NewKeys(KeysOptions{Store: store, Users: users})
	for _, ks := range []*Keys{keys, other, other} {
		p, err := ks.Verify(ctx, Credential{Transport: TransportAPIKey, Value: secret})
		if err != nil || p.KeyID == "" || p.Role != gateway.RoleContributor || p.UserID != u.ID {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	if n := store.byHash.Load(); n != 1 {
		t.Fatalf("lookups by hash = %d, want 1 (the cold instance's first request)", n)
	}
	unknown := gateway.Secret(KeyPrefix + strings.Repeat("Z", 43))
	for range 3 {
		_, err := keys.Verify(ctx, Credential{Transport: TransportBearer, Value: unknown})
		if ge, ok := gateway.AsError(err); !ok || ge.Code != "invalid_authorization" {
			t.Fatalf("unknown key err = %v", err)
		}
	}
	if n := store.byHash.Load(); n != 2 {
		t.Fatalf("lookups by hash = %d, want 2 (an unknown key is looked up once)", n)
	}
	// Malformed tg_ values never reach the database; other values are not keys.
	if _, err := keys.Verify(ctx, Credential{Transport: TransportBearer, Value: "tg_short"}); err == nil {
		t.Fatal("short tg_ value accepted")
	}
	if p, err := keys.Verify(ctx, Credential{Transport: TransportBearer, Value: "eyJ.x.y"}); p != nil || err != nil {
		t.Fatalf("non-key credential = %v, %v; want (nil, nil)", p, err)
	}
	if n := store.byHash.Load(); n != 2 {
		t.Fatalf("lookups by hash = %d, want 2", n)
	}
	// Last use is written by Flush, in one batch, not by Verify.
	k, err := st.APIKey(ctx, mustOnlyKey(t, keys))
	if err != nil || k.LastUsedAt != nil {
		t.Fatalf("last_used_at before flush = %v, %v", k.LastUsedAt, err)
	}
	if err := keys.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if k, err = st.APIKey(ctx, k.ID); err != nil || k.LastUsedAt == nil {
		t.Fatalf("last_used_at after flush = %v, %v", k.LastUsedAt, err)
	}
	if err := keys.RevokeKey(ctx, "missing", ""); !errors.Is(err, errKeyNotFound) {
		t.Fatalf("revoke missing = %v", err)
	}
}

func mustOnlyKey(t *testing.T, ks *Keys) string {
	t.Helper()
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	for id := range ks.byID {
		return id
	}
	t.Fatal("no cached key")
	return ""
}

func TestStaticTokensLoad(t *testing.T) {
	s, err := NewStaticTokens([]StaticToken{{Name: "a", Secret: "secret-a-0123456789", Role: gateway.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]StaticToken{
		{{Name: "b", Secret: ""}},
		{{Name: "b", Secret: "tg_looks-like-a-key"}},
		{{Name: "b", Secret: "x-0123456789"}, {Name: "b", Secret: "y-0123456789"}},
		{{Name: "b", Secret: "x-0123456789"}, {Name: "c", Secret: "x-0123456789"}},
	} {
		if err := s.Load(bad); err == nil {
			t.Fatalf("Load(%v) succeeded", bad)
		}
	}
	p, err := s.Verify(context.Background(), Credential{Transport: TransportAPIKey, Value: "secret-a-0123456789"})
	if err != nil || p == nil || p.StaticName != "a" || p.Role != gateway.RoleViewer || p.Kind != gateway.PrincipalStatic {
		t.Fatalf("after failed loads Verify = %+v, %v; want the original token", p, err)
	}
	if p, err := s.Verify(context.Background(), Credential{Transport: TransportSession, Value: "secret-a-0123456789"}); p != nil || err != nil {
		t.Fatalf("session transport = %v, %v", p, err)
	}
}

func TestKeysSeeOwnerChangesThroughTheSharedCache(t *testing.T) {
	ctx := context.Background()
	st := sqltest.SQLite(t)
	users := NewUserCache(st, nil, 0)
	keys := NewKeys(KeysOptions{Store: st, Users: users})
	s := New(Options{Users: st, Cache: users, Mode: ModeRequired, Verifiers: []Verifier{keys}, Password: cheap})
	if _, err := s.CreateUser(ctx, gateway.NewUser{Email: "admin@example.com", Password: "other admin pass", Role: gateway.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, gateway.NewUser{Email: "o@example.com", Password: "key owner pass", Role: gateway.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := keys.CreateKey(ctx, u.ID, u.Role, gateway.NewAPIKey{Name: "k", Role: gateway.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	cred := Credential{Transport: TransportAPIKey, Value: secret}
	if p, err := keys.Verify(ctx, cred); err != nil || p.Role != gateway.RoleAdmin {
		t.Fatalf("Verify = %+v, %v; want admin", p, err)
	}
	viewer := gateway.RoleViewer
	if _, err := s.UpdateUser(ctx, u.ID, gateway.UserPatch{Role: &viewer}); err != nil {
		t.Fatal(err)
	}
	if p, err := keys.Verify(ctx, cred); err != nil || p.Role != gateway.RoleViewer || p.OwnerRole != gateway.RoleViewer {
		t.Fatalf("after demotion Verify = %+v, %v; want viewer at once", p, err)
	}
	inactive := false
	if _, err := s.UpdateUser(ctx, u.ID, gateway.UserPatch{Active: &inactive}); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Verify(ctx, cred); err == nil {
		t.Fatal("key of a deactivated owner still verifies")
	}
}

// acceptingKeys stores keys without checking their owner.
type acceptingKeys struct{ gateway.APIKeyStore }

func (acceptingKeys) CreateAPIKey(_ context.Context, k *gateway.APIKey) error {
	k.ID = "k1"
	return nil
}

func TestCreatedKeyTurnsAutoModeRequired(t *testing.T) {
	ctx := context.Background()
	st := sqltest.SQLite(t)
	users := NewUserCache(st, nil, 0)
	keys := NewKeys(KeysOptions{Store: acceptingKeys{st}, Users: users})
	s := New(Options{Users: st, Cache: users, Mode: ModeAuto, Loopback: true, Verifiers: []Verifier{keys}, Password: cheap})
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Open() {
		t.Fatal("auto mode on loopback without users or keys is not open")
	}
	if _, _, err := keys.CreateKey(ctx, "owner", gateway.RoleAdmin, gateway.NewAPIKey{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if s.Open() {
		t.Fatal("auto mode still open after this instance created a key")
	}
}
