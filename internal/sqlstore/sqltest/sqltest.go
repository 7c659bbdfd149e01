// Package sqltest opens fresh, migrated stores for tests: a SQLite file under
// t.TempDir(), or a private schema in the test PostgreSQL server that is
// dropped when the test ends.
package sqltest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// SQLiteURL returns a sqlite:// URL of a new file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "tollgate.db")
}

// PostgresURL creates an empty schema in the test server and returns a URL
// whose connections use it; the schema is dropped at cleanup. It skips or
// fails like testsvc.PostgresURL when no server is configured.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := testsvc.PostgresURL(t)
	schema := testsvc.UniqueName("tg_test_")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates a store at url, closed at cleanup.
func Open(t testing.TB, url string) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// SQLite opens a fresh migrated SQLite store: a copy of a database
// migrated once per test process (migrating every test's file again cost
// each test about 75 ms under the race detector). Open(t, SQLiteURL(t))
// migrates an empty file instead.
func SQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tollgate.db")
	WriteMigratedSQLite(t, p)
	return Open(t, "sqlite://"+p)
}

// WriteMigratedSQLite writes a migrated, empty SQLite database to path.
func WriteMigratedSQLite(t testing.TB, path string) {
	t.Helper()
	b, err := migratedSQLite()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// migratedSQLite is the file of a migrated empty SQLite database, built on
// first use.
var migratedSQLite = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "tollgate-sqltest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "tollgate.db")
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+p, sqlstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("template database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("template database: %w", err)
	}
	if err := st.Close(); err != nil { // checkpoints the WAL into the file
		return nil, fmt.Errorf("template database: %w", err)
	}
	if _, err := os.Stat(p + "-wal"); err == nil {
		return nil, fmt.Errorf("template database: the WAL was not checkpointed on close")
	}
	return os.ReadFile(p)
})

// Postgres opens a fresh migrated PostgreSQL store in a private schema.
func Postgres(t testing.TB) *sqlstore.Store { return Open(t, PostgresURL(t)) }
