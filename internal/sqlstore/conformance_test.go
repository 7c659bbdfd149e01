package sqlstore_test

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/sqlstore/storetest"
)

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Stores { return sqltest.SQLite(t) })
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	sqltest.PostgresURL(t) // skip or fail early, once, when there is no server
	storetest.Run(t, func(t *testing.T) storetest.Stores { return sqltest.Postgres(t) })
}

// TestMigrations: migrations apply to an empty database, migrating again
// is a no-op, and Ready then holds, on both engines. (Migrations belong to sqlstore, not to the
// store interfaces storetest checks.)
func TestMigrations(t *testing.T) {
	t.Parallel()
	// SQLite from an empty file, not sqltest.SQLite's migrated copy.
	fresh := func(t testing.TB) *sqlstore.Store { return sqltest.Open(t, sqltest.SQLiteURL(t)) }
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{"SQLite": fresh, "Postgres": sqltest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("second Migrate = %v, want nil", err)
			}
			if err := st.Ready(ctx); err != nil {
				t.Fatalf("Ready = %v, want nil", err)
			}
		})
	}
}
