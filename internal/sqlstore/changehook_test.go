package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// TestChangeHook: every committed change that can make a cached
// credential or policy wrong reaches the change hook once, with its kind
// and id; reads, creations, last-use writes and failed updates do not.
func TestChangeHook(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{"SQLite": sqltest.SQLite, "Postgres": sqltest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			var mu sync.Mutex
			var got []gateway.Change
			st.SetChangeHook(func(_ context.Context, c gateway.Change) {
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			})
			take := func() []gateway.Change {
				mu.Lock()
				defer mu.Unlock()
				out := got
				got = nil
				return out
			}
			want := func(step string, w ...gateway.Change) {
				t.Helper()
				if g := take(); !slices.Equal(g, w) {
					t.Fatalf("%s: hook heard %v, want %v", step, g, w)
				}
			}
			u := &gateway.User{Email: "u@example.com", Role: gateway.RoleContributor, Active: true}
			must(t, st.CreateUser(ctx, u))
			k := &gateway.APIKey{Name: "k", Prefix: "p", OwnerID: u.ID, Role: gateway.RoleViewer, Hash: sha256.Sum256([]byte("k"))}
			must(t, st.CreateAPIKey(ctx, k))
			must(t, st.TouchAPIKeys(ctx, map[string]time.Time{k.ID: time.Now()}))
			must(t, st.RecordLogin(ctx, u.ID, time.Now()))
			want("creations and last use")

			user, key := gateway.Change{Kind: gateway.ChangeUser, ID: u.ID}, gateway.Change{Kind: gateway.ChangeKey, ID: k.ID}
			viewer := gateway.RoleViewer
			_, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{Role: &viewer})
			must(t, err)
			must(t, st.SetPasswordHash(ctx, u.ID, "x"))
			must(t, st.RevokeTokens(ctx, u.ID, time.Now()))
			want("user changes", user, user, user)
			name := "n"
			_, err = st.UpdateAPIKey(ctx, k.ID, "", gateway.APIKeyPatch{Name: &name})
			must(t, err)
			_, err = st.RotateAPIKey(ctx, k.ID, u.ID, sha256.Sum256([]byte("k2")), "q", nil)
			must(t, err)
			_, err = st.RevokeAPIKey(ctx, k.ID, "", time.Now())
			must(t, err)
			want("key changes", key, key, key)
			if _, err := st.RevokeAPIKey(ctx, k.ID, "someone-else", time.Now()); err == nil {
				t.Fatal("revoke with another owner succeeded")
			}
			if _, err := st.UpdateUser(ctx, "missing", gateway.UserPatch{Role: &viewer}); err == nil {
				t.Fatal("update of a missing user succeeded")
			}
			want("failed updates")

			policy := gateway.Change{Kind: gateway.ChangePolicy}
			p := &gateway.RateLimitPolicy{Name: "p", RequestsPerMinute: 10, Burst: 10}
			must(t, st.CreateRateLimitPolicy(ctx, p))
			p.Burst = 20
			must(t, st.UpdateRateLimitPolicy(ctx, p))
			a := &gateway.RateLimitAssignment{PolicyID: p.ID, SubjectType: gateway.SubjectUser, Subject: u.ID}
			must(t, st.CreateRateLimitAssignment(ctx, a))
			must(t, st.DeleteRateLimitAssignment(ctx, a.ID))
			must(t, st.DeleteRateLimitPolicy(ctx, p.ID))
			want("policy changes", policy, policy, policy, policy, policy)
			if err := st.DeleteRateLimitPolicy(ctx, p.ID); err == nil {
				t.Fatal("second delete succeeded")
			}
			want("failed policy delete")

			// Inside a transaction (a change and its audit record) the
			// hook hears the change only after the commit, and never
			// after a rollback: no instance drops a cache entry for a
			// change that is not (yet) visible.
			errRollback := errors.New("rollback")
			err = st.InTx(ctx, func(ctx context.Context) error {
				_, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{Role: &viewer})
				must(t, err)
				want("inside a transaction before commit")
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("InTx = %v, want the rollback error", err)
			}
			want("rolled back transaction")
			must(t, st.InTx(ctx, func(ctx context.Context) error {
				_, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{Role: &viewer})
				must(t, err)
				want("inside a transaction before commit")
				return nil
			}))
			want("committed transaction", user)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
