package sqlstore

import (
	"crypto/md5"
	"database/sql/driver"
	"encoding/hex"
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
	// search is the full-text query over messages m: its first arguments
	// are searchArgs(terms, access), then the owner filter's, then the
	// limit. access are the caller's access tokens (accessTokens), which
	// the index intersects with the words (migration 00018).
	search     func(ownerFilter string) string
	searchArgs func(terms, access []string) []any
	// searchHits, when set, means search returns every match's seq and
	// content, unranked and without the limit argument, and SearchMessages
	// ranks them (searchRank); searchHits(n) then reads the hits of n
	// seqs: its arguments are searchArgs's, then the seqs.
	searchHits func(n int) string
	// ownerToken, tenantToken and conversationToken name the access
	// tokens the index holds for each message.
	ownerToken        func(userID, endUserID string) string
	tenantToken       func(userID string) string
	conversationToken func(id string) string
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
	// column filters are text), the terms ANDed by juxtaposition, in the
	// content column; the access column holds the tokens. The caller's
	// matches are ranked in Go (searchRank), not with bm25(), whose
	// document frequencies cost every match of a word in the whole table.
	search: func(owner string) string {
		return `SELECT m.seq, m.content FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
			WHERE messages_fts MATCH ? AND m.deleted_at IS NULL AND ` + owner
	},
	// The unary + keeps rowid IN from the index: FTS5 would run the match
	// once per rowid; filtered, it runs once and snippets n rows.
	searchHits: func(n int) string {
		return `SELECT m.seq, m.conversation_id, m.id, snippet(messages_fts, 0, '**', '**', '…', 16), m.created_at
			FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
			WHERE messages_fts MATCH ? AND +messages_fts.rowid IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
	},
	searchArgs: func(terms, access []string) []any {
		return []any{`{access}: (` + strings.Join(quoteFTS(access), " OR ") + `) AND {content}: (` +
			strings.Join(quoteFTS(terms), " ") + `)`}
	},
	// The migration's hex() writes upper case; unicode61 folds case.
	ownerToken: func(userID, endUserID string) string {
		return "o" + hex.EncodeToString([]byte(userID)) + "x" + hex.EncodeToString([]byte(endUserID))
	},
	tenantToken:       func(userID string) string { return "t" + hex.EncodeToString([]byte(userID)) },
	conversationToken: func(id string) string { return "c" + hex.EncodeToString([]byte(id)) },
}

// quoteFTS quotes each string as an FTS5 string, where every character is
// text.
func quoteFTS(ss []string) []string {
	q := make([]string, len(ss))
	for i, t := range ss {
		q[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return q
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
	// and ANDs its words; a is the OR of the caller's access lexemes
	// (hex, a letter and a space: safe inside quotes). access_tsv's GIN
	// index intersects both; ts_rank still ranks on tsv, the words alone.
	// The index condition sits alone in a subquery behind OFFSET 0 (a
	// planner fence): otherwise a generic plan, which cannot estimate
	// it, ANDs it with a bitmap of the owner filter's btree scans —
	// including every row with end_user_id = '' — and pays for the whole
	// table.
	search: func(owner string) string {
		return `SELECT m.conversation_id, m.id,
				ts_headline('simple', m.content, m.q, 'StartSel="**", StopSel="**", MaxWords=20, MinWords=5'), m.created_at
			FROM (SELECT mm.conversation_id, mm.id, mm.content, mm.created_at, mm.seq, mm.tsv, mm.deleted_at,
					mm.user_id, mm.end_user_id, q
				FROM messages mm, plainto_tsquery('simple', ?) q, CAST(? AS tsquery) a
				WHERE mm.access_tsv @@ (q && a) OFFSET 0) m
			WHERE m.deleted_at IS NULL AND ` + owner + `
			ORDER BY ts_rank(m.tsv, m.q) DESC, m.seq DESC LIMIT ?`
	},
	searchArgs: func(terms, access []string) []any {
		q := make([]string, len(access))
		for i, t := range access {
			q[i] = "'" + t + "'"
		}
		return []any{strings.Join(terms, " "), strings.Join(q, " | ")}
	},
	ownerToken: func(userID, endUserID string) string {
		return "o " + md5Hex(userID+"\x01"+endUserID)
	},
	tenantToken:       func(userID string) string { return "t " + md5Hex(userID) },
	conversationToken: func(id string) string { return "c " + md5Hex(id) },
}

// md5Hex is PostgreSQL's md5(): the lower-case hex MD5 of s. It names
// index lexemes, nothing secret.
func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
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
