// Package sqlstore implements Tollgate's stores on database/sql for SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL (pgx). One set of queries
// serves both engines; the differences live in dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tollgate/tollgate/internal/gateway"
)

//go:embed migrations
var migrations embed.FS

// sqliteBusyTimeout is how long a SQLite writer waits for the lock.
const sqliteBusyTimeout = 10 * time.Second

// Store is the database-backed implementation of the gateway stores.
type Store struct {
	db   *sql.DB
	d    dialect
	hook atomic.Pointer[ChangeHook]
	// writer, on SQLite, hands this process's write transactions (every
	// transaction: _txlock=immediate) from one to the next in Go, in
	// microseconds, instead of leaving them to SQLite's busy handler,
	// which sleeps 1, 2, 5, 10… ms between tries: a request's admission
	// that meets the usage writer's batch then waits for that batch, not
	// for a sleep. Nil on PostgreSQL. Other processes (the CLI) still
	// meet SQLite's lock and busy_timeout.
	writer chan struct{}
}

// ChangeHook hears of every committed change of an API key, a user or a
// rate-limit policy (after its commit, before the store call returns), so
// the change can be pushed to every instance's caches.
type ChangeHook func(ctx context.Context, c gateway.Change)

// SetChangeHook installs h (nil: none). The server and the CLI install
// one that publishes the change (PostgreSQL NOTIFY or Redis pub/sub).
func (s *Store) SetChangeHook(h ChangeHook) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&h)
}

// changed tells the hook of a committed change.
func (s *Store) changed(ctx context.Context, kind gateway.ChangeKind, id string) {
	h := s.hook.Load()
	if h == nil {
		return
	}
	c := gateway.Change{Kind: kind, ID: id}
	// Inside InTx the change is not visible to other instances before the
	// commit: announce it then (and not at all on a rollback).
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.store == s {
		// The hook runs outside the finished transaction.
		after := context.WithValue(context.WithoutCancel(ctx), txKey{}, &txState{})
		st.afterCommit = append(st.afterCommit, func() { (*h)(after, c) })
		return
	}
	(*h)(ctx, c)
}

// changedOnSuccess is changed for a method returning *err, deferred.
func (s *Store) changedOnSuccess(ctx context.Context, err *error, kind gateway.ChangeKind, id string) {
	if *err == nil {
		s.changed(ctx, kind, id)
	}
}

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
	// QueryTimeout bounds every statement and transaction
	// (database.query_timeout); 0 means DefaultQueryTimeout, < 0 none.
	QueryTimeout time.Duration
}

// Open connects to sqlite://PATH or postgres://... and checks the
// connection. It does not migrate; call Migrate.
func Open(ctx context.Context, rawURL string, opt Options) (*Store, error) {
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	timeout := opt.QueryTimeout
	if timeout == 0 {
		timeout = DefaultQueryTimeout
	}
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		path := strings.TrimPrefix(rawURL, "sqlite://")
		query := ""
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		if path == "" {
			return nil, errors.New("open database: sqlite:// needs a file path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open database: create data dir: %w", err)
		}
		q, _ := url.ParseQuery(query)
		for _, p := range []string{fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()), "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		// A writer waits for SQLite's lock up to busy_timeout, on top of
		// the query timeout: under a burst of writes one instance's queue
		// for the lock is load, not an outage.
		if timeout > 0 {
			timeout += sqliteBusyTimeout
		}
		q.Set("_time_format", "sqlite")
		d = sqliteDialect
		db, err = openDB("sqlite", "file:"+path+"?"+q.Encode(), timeout, d.down)
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		d = postgresDialect
		db, err = openDB("pgx", rawURL, timeout, d.down)
	default:
		return nil, errors.New("open database: url must start with sqlite:// or postgres://")
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if opt.MaxOpenConns > 0 {
		db.SetMaxOpenConns(opt.MaxOpenConns)
		db.SetMaxIdleConns(opt.MaxOpenConns)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, d: d}
	if d.name == "sqlite" {
		s.writer = make(chan struct{}, 1)
	}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return s, nil
}

// Engine is "sqlite" or "postgres".
func (s *Store) Engine() string { return s.d.name }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.PingContext(ctx)
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+s.d.name)
	if err != nil {
		return nil, err
	}
	gd := goose.DialectSQLite3
	if s.d.name == "postgres" {
		gd = goose.DialectPostgres
	}
	return goose.NewProvider(gd, s.db, sub)
}

// Migrate applies every pending migration. It is safe to run concurrently
// from several instances on PostgreSQL (goose takes a session lock there).
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrateUp(ctx)
	return err
}

// MigrateUp is Migrate that returns the migrations it applied, as their
// file names ("00001_init.sql"), in order; none when the database was
// current.
func (s *Store) MigrateUp(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	res, err := p.Up(withoutDeadline(ctx)) // an index build may take long
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]string, 0, len(res))
	for _, r := range res {
		applied = append(applied, path.Base(r.Source.Path))
	}
	return applied, nil
}

// Backup writes a consistent copy of a SQLite database to file with
// VACUUM INTO, while the database stays in use. file must not exist.
// PostgreSQL is refused: use pg_dump.
func (s *Store) Backup(ctx context.Context, file string) error {
	if s.d.name != "sqlite" {
		return errors.New("backup works on SQLite only; back up PostgreSQL with pg_dump")
	}
	if _, err := s.conn(ctx).ExecContext(withoutDeadline(ctx), "VACUUM INTO ?", file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// Ready reports whether the database answers and every migration is
// applied; /readyz calls it.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	p, err := s.provider()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("database has pending migrations")
	}
	return nil
}

// q rebinds a query written with ? placeholders for the engine.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// mapErr turns driver errors into the domain's sentinel errors.
func (s *Store) mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, gateway.ErrNotFound)
	case s.d.isUnique(err):
		return fmt.Errorf("%s: %w: %v", op, gateway.ErrConflict, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// now is the store's clock: UTC, truncated to what both engines keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// conn is the connection a query of ctx runs on: the transaction InTx
// opened on this store when ctx is inside one, else the pool.
func (s *Store) conn(ctx context.Context) querier {
	if tx := s.txFrom(ctx); tx != nil {
		return tx
	}
	return s.db
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// txKey carries the transaction InTx opened. The value is private to this
// package: it says which store's transaction a context belongs to, so a
// second store (another database) never runs a query on it.
type txKey struct{}

type txState struct {
	store *Store
	tx    *sql.Tx
	// afterCommit runs once the transaction committed (change
	// announcements).
	afterCommit []func()
}

func (s *Store) txFrom(ctx context.Context) *sql.Tx {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.store == s {
		return st.tx
	}
	return nil
}

// InTx runs fn in one transaction: every store method called with the
// context fn receives runs in that transaction (the store's own
// multi-statement methods join it), and it commits when fn returns nil,
// else rolls back. A nested InTx joins the outer transaction. fn must not
// use the context after it returns, nor from other goroutines.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	tx, done, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	st := &txState{store: s, tx: tx}
	if err := fn(context.WithValue(ctx, txKey{}, st)); err != nil {
		_ = tx.Rollback()
		done()
		return err
	}
	err = tx.Commit()
	done()
	if err != nil {
		return err
	}
	for _, f := range st.afterCommit {
		f()
	}
	return nil
}

// inTx runs fn in a transaction, committing if it returns nil; inside
// InTx it joins that transaction.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if tx := s.txFrom(ctx); tx != nil {
		return fn(tx)
	}
	tx, done, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// errWriterBusy is a SQLite write transaction that found this process's
// writer taken for longer than SQLite's own busy timeout.
var errWriterBusy = unavailableError{errors.New("sqlite: another write transaction held the writer for the busy timeout")}

// begin starts a transaction; on SQLite it first takes this process's
// writer (waiting at most the busy timeout, as SQLite's lock would) and
// done gives it back: call done once the transaction has ended.
func (s *Store) begin(ctx context.Context) (tx *sql.Tx, done func(), err error) {
	done = func() {}
	if s.writer != nil {
		t := time.NewTimer(sqliteBusyTimeout)
		select {
		case s.writer <- struct{}{}:
			t.Stop()
			var once sync.Once
			done = func() { once.Do(func() { <-s.writer }) }
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
			return nil, nil, errWriterBusy
		}
	}
	if tx, err = s.db.BeginTx(ctx, nil); err != nil {
		done()
		return nil, nil, err
	}
	return tx, done, nil
}

// exists runs a SELECT EXISTS (...) query.
func (s *Store) exists(ctx context.Context, op, query string) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, query).Scan(&ok)
	return ok, s.mapErr(op, err)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }
