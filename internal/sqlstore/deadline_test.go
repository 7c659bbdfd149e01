package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// generous bounds "returned instead of hanging" without timing anything
// tightly: the query timeout under test is 300 ms.
const generous = 30 * time.Second

// callWithin runs f and fails the test when it has not returned within
// generous; it returns f's error.
func callWithin(t *testing.T, f func(context.Context) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f(context.Background()) }()
	select {
	case err := <-done:
		return err
	case <-time.After(generous):
		t.Fatalf("the store call still blocks after %s (query timeout 300ms)", generous)
		return nil
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("err = %v, want one wrapping gateway.ErrUnavailable", err)
	}
}

// TestQueryDeadlinePostgres: a frozen (SIGSTOP) and a stopped PostgreSQL
// make store calls fail with ErrUnavailable within the query timeout, on
// a pool whose connections were established; once the server is back the
// same store works again.
func TestQueryDeadlinePostgres(t *testing.T) {
	t.Parallel()
	pg := testsvc.StartPGCluster(t)
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, pg.URL(), sqlstore.Options{MaxOpenConns: 4, QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(ctx context.Context) error { _, err := st.CountUsers(ctx); return err }
	if err := count(ctx); err != nil {
		t.Fatal(err)
	}
	pg.Freeze()
	wantUnavailable(t, callWithin(t, count))
	// A transaction: begin or a statement in it hits the deadline.
	wantUnavailable(t, callWithin(t, func(ctx context.Context) error {
		return st.CreateFirstUser(ctx, &gateway.User{Email: "a@example.com", Role: gateway.RoleAdmin, Active: true})
	}))
	pg.Thaw()
	pg.Stop()
	wantUnavailable(t, callWithin(t, count))
	pg.Start()
	deadline := time.Now().Add(generous)
	for count(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("store still failing %s after the restart: %v", generous, count(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The caller's own cancellation is not an outage.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := count(cctx); err == nil || errors.Is(err, gateway.ErrUnavailable) {
		t.Fatalf("cancelled call: err = %v, want a plain cancellation", err)
	}
}

// TestQueryDeadlineSQLite: a write that waits on another writer's lock
// fails with ErrUnavailable once the query timeout plus busy_timeout
// (10 s) have passed, instead of hanging.
func TestQueryDeadlineSQLite(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "tollgate.db")
	sqltest.WriteMigratedSQLite(t, p)
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+p, sqlstore.Options{QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	wantUnavailable(t, callWithin(t, func(ctx context.Context) error {
		return st.CreateUser(ctx, &gateway.User{Email: "a@example.com", Role: gateway.RoleViewer, Active: true})
	}))
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, &gateway.User{Email: "a@example.com", Role: gateway.RoleViewer, Active: true}); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}
