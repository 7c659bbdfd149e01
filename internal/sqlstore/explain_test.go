package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// plan returns the query plan of query with args as one string:
// EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL (sequential scans
// disabled, so a usable index is always chosen on a small table).
func plan(t *testing.T, st *sqlstore.Store, query string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if st.Engine() == "postgres" {
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "RESET enable_seqscan")
		explain = "EXPLAIN "
	}
	rows, err := conn.QueryContext(ctx, explain+st.Rebind(query), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestListKeysByOwnerUsesTheIndex: GET /api/admin/keys?owner_id= reads
// api_keys_owner on both engines; without an owner the filter is absent.
func TestListKeysByOwnerUsesTheIndex(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{"SQLite": sqltest.SQLite, "Postgres": sqltest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			// The owner asked for holds 20 keys of 300.
			u := &gateway.User{Email: "o@example.com", Role: gateway.RoleContributor, Active: true}
			other := &gateway.User{Email: "p@example.com", Role: gateway.RoleContributor, Active: true}
			for _, x := range []*gateway.User{u, other} {
				if err := st.CreateUser(ctx, x); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 300 {
				owner := other.ID
				if i%15 == 0 {
					owner = u.ID
				}
				k := &gateway.APIKey{Name: "k", Prefix: "p", OwnerID: owner, Role: gateway.RoleViewer, Hash: sha256.Sum256(fmt.Append(nil, i))}
				if err := st.CreateAPIKey(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.DB().ExecContext(ctx, "ANALYZE api_keys"); err != nil {
				t.Fatal(err)
			}
			p := plan(t, st, sqlstore.ListAPIKeysQuery(u.ID), sqlstore.ListAPIKeysArgs(u.ID, "", 51)...)
			if !strings.Contains(p, "api_keys_owner") {
				t.Fatalf("plan of the owner listing does not use api_keys_owner:\n%s", p)
			}
			if q := sqlstore.ListAPIKeysQuery(""); strings.Contains(q, "owner_id =") {
				t.Fatalf("the listing of every key filters on the owner: %s", q)
			}
			keys, _, err := st.ListAPIKeys(ctx, u.ID, "", 10)
			if err != nil || len(keys) != 10 {
				t.Fatalf("ListAPIKeys = %d keys, %v", len(keys), err)
			}
		})
	}
}

// TestUsageByUserAndKeyUsesUserIndexes: a key's usage (its user and key:
// the only way the API filters by key) reads the user indexes of
// usage_records (by day and user), usage_daily and usage_hourly on both
// engines, so the indexes migration 00021 dropped are not missed.
func TestUsageByUserAndKeyUsesUserIndexes(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(24 * time.Hour).Add(-2 * 24 * time.Hour)
		var recs []gateway.UsageRecord
		for i := range 3000 {
			recs = append(recs, gateway.UsageRecord{ID: fmt.Sprint("r", i), CreatedAt: base.Add(time.Duration(i) * time.Minute),
				UserID: fmt.Sprint("u", i%50), KeyID: fmt.Sprint("k", i%150), Model: "m", Status: gateway.UsageOK})
		}
		if err := st.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		q := gateway.UsageQuery{UserID: "u7", KeyID: "k7", GroupBy: gateway.UsageByModel}
		// Raw rows: a partial edge over two days at most.
		for _, tc := range []struct {
			table, index string
			lo, hi       time.Time
		}{
			{"usage_records", "usage_records_day_user", base.Add(time.Hour + time.Minute), base.Add(30 * time.Hour)},
			{"usage_hourly", "usage_hourly_user", base.Add(time.Hour), base.Add(20 * time.Hour)},
			{"usage_daily", "usage_daily_user", base, base.Add(48 * time.Hour)},
		} {
			stmt, args := st.UsagePartQueryForTest(q, tc.table, tc.lo, tc.hi)
			if p := plan(t, st, stmt, args...); !strings.Contains(p, tc.index) {
				t.Errorf("plan of a key's usage on %s does not use %s:\n%s", tc.table, tc.index, p)
			}
		}
	})
}
