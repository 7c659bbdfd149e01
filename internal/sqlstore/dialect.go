package sqlstore

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds everything that differs between the engines, so queries
// are written once.
type dialect struct {
	name     string
	rebind   func(string) string
	isUnique func(error) bool
	// down reports errors meaning the database is unreachable or cannot
	// take work now (deadline.go wraps them in gateway.ErrUnavailable).
	down func(error) bool
	// search is the full-text query over messages m: its first argument
	// is matchArg(terms), then the owner filter's, then the limit.
	search   func(ownerFilter string) string
	matchArg func(terms []string) string
}

var sqliteDialect = dialect{
	name:   "sqlite",
	rebind: func(q string) string { return q },
	isUnique: func(err error) bool {
		var se *sqlite.Error
		if errors.As(err, &se) {
			c := se.Code()
			return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		}
		return false
	},
	down: func(err error) bool {
		var se *sqlite.Error
		if !errors.As(err, &se) {
			return false
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_INTERRUPT,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	},
	// FTS5: each term is a quoted string (so AND, OR, NOT, NEAR, *, ^ and
	// column filters are text), the terms ANDed by juxtaposition.
	search: func(owner string) string {
		return `SELECT m.conversation_id, m.id, snippet(messages_fts, 0, '**', '**', '…', 16), m.created_at
			FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
			WHERE messages_fts MATCH ? AND m.deleted_at IS NULL AND ` + owner + `
			ORDER BY bm25(messages_fts), m.seq DESC LIMIT ?`
	},
	matchArg: func(terms []string) string {
		q := make([]string, len(terms))
		for i, t := range terms {
			q[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
		}
		return strings.Join(q, " ")
	},
}

var postgresDialect = dialect{
	name:   "postgres",
	rebind: dollarPlaceholders,
	isUnique: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505"
	},
	down: postgresDown,
	// tsvector: plainto_tsquery reads its argument as text (no operators)
	// and ANDs its words.
	search: func(owner string) string {
		return `SELECT m.conversation_id, m.id,
				ts_headline('simple', m.content, q, 'StartSel="**", StopSel="**", MaxWords=20, MinWords=5'), m.created_at
			FROM messages m, plainto_tsquery('simple', ?) q
			WHERE m.tsv @@ q AND m.deleted_at IS NULL AND ` + owner + `
			ORDER BY ts_rank(m.tsv, q) DESC, m.seq DESC LIMIT ?`
	},
	matchArg: func(terms []string) string { return strings.Join(terms, " ") },
}

// dollarPlaceholders rewrites ? to $1, $2, ... outside string literals.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	inStr := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inStr = !inStr
			b.WriteByte(c)
		case c == '?' && !inStr:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// postgresDown: connection errors (refused, reset, closed, timed out),
// and the server's own "cannot serve now" classes: 08 connection
// exception, 53 insufficient resources (too many connections, disk full),
// 57P01-57P05 shutdown or crash recovery, 57014 statement timeout.
func postgresDown(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") ||
			strings.HasPrefix(pe.Code, "57P") || pe.Code == "57014"
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
