package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Test-only access for the external test package.

// DBForTest is the store's database.
func (s *Store) DBForTest() *sql.DB { return s.db }

// SearchSQLForTest returns SearchMessages's statement and arguments for o
// and the words of q, as it runs them.
func (s *Store) SearchSQLForTest(ctx context.Context, o gateway.Owner, q string, limit int) (string, []any, error) {
	access, err := s.accessTokens(ctx, o)
	if err != nil {
		return "", nil, err
	}
	f, args := messageAccess("m", o, false, false)
	return s.q(s.d.search(f)), append(append(s.d.searchArgs(SearchTerms(q), access), args...), limit), nil
}

// IndexHitsForTest returns the ids of the messages the full-text index
// alone returns for o's access tokens and the words of q: no SQL access
// filter, no deleted_at.
func (s *Store) IndexHitsForTest(ctx context.Context, o gateway.Owner, q string) ([]string, error) {
	access, err := s.accessTokens(ctx, o)
	if err != nil {
		return nil, err
	}
	stmt := `SELECT m.id FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid WHERE messages_fts MATCH ? ORDER BY m.id`
	if s.d.name == "postgres" {
		stmt = `SELECT m.id FROM messages m, plainto_tsquery('simple', ?) q, CAST(? AS tsquery) a WHERE m.access_tsv @@ (q && a) ORDER BY m.id`
	}
	rows, err := s.db.QueryContext(ctx, s.q(stmt), s.d.searchArgs(SearchTerms(q), access)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// AccessTokensForTest returns o's access tokens.
func (s *Store) AccessTokensForTest(ctx context.Context, o gateway.Owner) ([]string, error) {
	return s.accessTokens(ctx, o)
}

// DB is the store's pool.
func (s *Store) DB() *sql.DB { return s.db }

// Rebind rewrites ? placeholders for the engine.
func (s *Store) Rebind(q string) string { return s.q(q) }

var (
	ListAPIKeysQuery = listAPIKeysQuery
	ListAPIKeysArgs  = listAPIKeysArgs
)

// UsagePartQueryForTest returns the statement UsageSummary runs for q over
// [lo, hi) on table: usage_records, usage_daily or usage_hourly.
func (s *Store) UsagePartQueryForTest(q gateway.UsageQuery, table string, lo, hi time.Time) (string, []any) {
	var ru *rollup
	for _, r := range []*rollup{&dailyRollup, &hourlyRollup} {
		if r.table == table {
			ru = r
		}
	}
	return s.usagePartQuery(q, ru, lo, hi)
}
