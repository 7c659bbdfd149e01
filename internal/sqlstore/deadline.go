package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// DefaultQueryTimeout is database.query_timeout's default.
const DefaultQueryTimeout = 5 * time.Second

// The query deadline lives here, in the driver underneath database/sql,
// so that every statement of every store method gets it without a call
// site knowing: each connect, ping, statement (until its rows are
// closed) and transaction (begin to commit) runs under the timeout, and
// an error that means the database is unreachable or too slow wraps
// gateway.ErrUnavailable (503 not_ready on every route). A frozen
// PostgreSQL (SIGSTOP) therefore costs a request at most the timeout, not
// the freeze.

// noDeadline marks a context whose statements may run longer than the
// query timeout (migrations, backups).
type noDeadlineKey struct{}

func withoutDeadline(ctx context.Context) context.Context {
	return context.WithValue(ctx, noDeadlineKey{}, true)
}

// unavailableError is a driver error that means the database is down or
// too slow; it is still the driver's error (driver.ErrBadConn stays
// visible to database/sql's retries).
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return "database unavailable: " + e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{gateway.ErrUnavailable, e.err} }

// deadlineConnector wraps the engine's connector.
type deadlineConnector struct {
	base    driver.Connector
	timeout time.Duration
	// down reports the engine's errors that mean "unreachable or
	// overloaded" (connection refused or lost, server shutting down, a
	// busy or full SQLite file).
	down func(error) bool
}

// openDB opens a pool of driverName on dsn whose connections enforce the
// timeout.
func openDB(driverName, dsn string, timeout time.Duration, down func(error) bool) (*sql.DB, error) {
	tmp, err := sql.Open(driverName, dsn) // no I/O: only looks the driver up
	if err != nil {
		return nil, err
	}
	drv := tmp.Driver()
	_ = tmp.Close()
	var base driver.Connector = dsnConnector{dsn: dsn, d: drv}
	if dc, ok := drv.(driver.DriverContext); ok {
		if base, err = dc.OpenConnector(dsn); err != nil {
			return nil, err
		}
	}
	return sql.OpenDB(&deadlineConnector{base: base, timeout: timeout, down: down}), nil
}

type dsnConnector struct {
	dsn string
	d   driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

// deadline returns ctx bounded by the timeout (unless ctx opted out).
func (c *deadlineConnector) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 || ctx.Value(noDeadlineKey{}) != nil {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

// classify wraps err as unavailable when the timeout (not the caller)
// ended the call, or the engine says the database is unreachable.
func (c *deadlineConnector) classify(parent, bounded context.Context, err error) error {
	switch {
	case err == nil || err == io.EOF || err == driver.ErrSkip:
		return err
	case parent.Err() != nil:
		return err // the caller gave up
	case bounded.Err() != nil || c.down(err):
		return unavailableError{err}
	}
	return err
}

func (c *deadlineConnector) Connect(ctx context.Context) (driver.Conn, error) {
	bctx, cancel := c.deadline(ctx)
	defer cancel()
	conn, err := c.base.Connect(bctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, unavailableError{err} // any failure to connect
	}
	return &deadlineConn{c: c, base: conn}, nil
}

func (c *deadlineConnector) Driver() driver.Driver { return c.base.Driver() }

// deadlineConn is one connection; it offers database/sql the context
// interfaces and delegates to the engine's connection.
type deadlineConn struct {
	c    *deadlineConnector
	base driver.Conn
}

func (dc *deadlineConn) Prepare(query string) (driver.Stmt, error) {
	return dc.PrepareContext(context.Background(), query)
}
func (dc *deadlineConn) Close() error { return dc.base.Close() }
func (dc *deadlineConn) Begin() (driver.Tx, error) {
	return dc.BeginTx(context.Background(), driver.TxOptions{})
}

func (dc *deadlineConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	bctx, cancel := dc.c.deadline(ctx)
	defer cancel()
	var (
		st  driver.Stmt
		err error
	)
	if p, ok := dc.base.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(bctx, query)
	} else {
		st, err = dc.base.Prepare(query)
	}
	if err != nil {
		return nil, dc.c.classify(ctx, bctx, err)
	}
	return &deadlineStmt{c: dc.c, base: st}, nil
}

// BeginTx bounds the whole transaction: begin, its statements and commit
// finish within the timeout (each statement also has its own).
func (dc *deadlineConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	bctx, cancel := dc.c.deadline(ctx)
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := dc.base.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(bctx, opts)
	} else {
		tx, err = dc.base.Begin() // engines without BeginTx
	}
	if err != nil {
		cancel()
		return nil, dc.c.classify(ctx, bctx, err)
	}
	return &deadlineTx{c: dc.c, base: tx, parent: ctx, bctx: bctx, cancel: cancel}, nil
}

func (dc *deadlineConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := dc.base.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	bctx, cancel := dc.c.deadline(ctx)
	defer cancel()
	res, err := e.ExecContext(bctx, query, args)
	return res, dc.c.classify(ctx, bctx, err)
}

func (dc *deadlineConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := dc.base.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	bctx, cancel := dc.c.deadline(ctx)
	rows, err := q.QueryContext(bctx, query, args)
	if err != nil {
		cancel()
		return nil, dc.c.classify(ctx, bctx, err)
	}
	return &deadlineRows{c: dc.c, base: rows, parent: ctx, bctx: bctx, cancel: cancel}, nil
}

func (dc *deadlineConn) Ping(ctx context.Context) error {
	p, ok := dc.base.(driver.Pinger)
	if !ok {
		return nil
	}
	bctx, cancel := dc.c.deadline(ctx)
	defer cancel()
	return dc.c.classify(ctx, bctx, p.Ping(bctx))
}

// ResetSession may ping (pgx does after a second idle): bounded too.
func (dc *deadlineConn) ResetSession(ctx context.Context) error {
	r, ok := dc.base.(driver.SessionResetter)
	if !ok {
		return nil
	}
	bctx, cancel := dc.c.deadline(ctx)
	defer cancel()
	return dc.c.classify(ctx, bctx, r.ResetSession(bctx))
}

func (dc *deadlineConn) IsValid() bool {
	if v, ok := dc.base.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (dc *deadlineConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := dc.base.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type deadlineTx struct {
	c      *deadlineConnector
	base   driver.Tx
	parent context.Context
	bctx   context.Context
	cancel context.CancelFunc
}

func (t *deadlineTx) Commit() error {
	defer t.cancel()
	return t.c.classify(t.parent, t.bctx, t.base.Commit())
}

func (t *deadlineTx) Rollback() error {
	defer t.cancel()
	return t.c.classify(t.parent, t.bctx, t.base.Rollback())
}

type deadlineStmt struct {
	c    *deadlineConnector
	base driver.Stmt
}

func (s *deadlineStmt) Close() error  { return s.base.Close() }
func (s *deadlineStmt) NumInput() int { return s.base.NumInput() }
func (s *deadlineStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.base.Exec(args)
}
func (s *deadlineStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.base.Query(args)
}

func (s *deadlineStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.base.(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("sqlstore: driver statement without ExecContext")
	}
	bctx, cancel := s.c.deadline(ctx)
	defer cancel()
	res, err := e.ExecContext(bctx, args)
	return res, s.c.classify(ctx, bctx, err)
}

func (s *deadlineStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.base.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("sqlstore: driver statement without QueryContext")
	}
	bctx, cancel := s.c.deadline(ctx)
	rows, err := q.QueryContext(bctx, args)
	if err != nil {
		cancel()
		return nil, s.c.classify(ctx, bctx, err)
	}
	return &deadlineRows{c: s.c, base: rows, parent: ctx, bctx: bctx, cancel: cancel}, nil
}

// deadlineRows keeps its statement's deadline until it is closed.
type deadlineRows struct {
	c      *deadlineConnector
	base   driver.Rows
	parent context.Context
	bctx   context.Context
	cancel context.CancelFunc
}

func (r *deadlineRows) Columns() []string { return r.base.Columns() }
func (r *deadlineRows) Close() error {
	defer r.cancel()
	return r.base.Close()
}
func (r *deadlineRows) Next(dest []driver.Value) error {
	return r.c.classify(r.parent, r.bctx, r.base.Next(dest))
}
