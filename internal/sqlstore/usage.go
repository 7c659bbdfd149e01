package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// usageColumns are the columns InsertUsage writes, in order.
const usageColumns = `created_at, request_id, user_id, key_id, end_user_id, model, served_model, provider,
	prompt_tokens, completion_tokens, latency_ms, ttft_ms, status, http_status, error_code, cost`

const usageColumnCount = 16

// usageRowsPerStatement keeps one INSERT well below both engines' limits on
// bound parameters (SQLite 32766, PostgreSQL 65535).
const usageRowsPerStatement = 500

var _ gateway.UsageStore = (*Store)(nil)

// InsertUsage writes records in one transaction with multi-row INSERTs.
func (s *Store) InsertUsage(ctx context.Context, records []gateway.UsageRecord) error {
	if len(records) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(records); start += usageRowsPerStatement {
			batch := records[start:min(start+usageRowsPerStatement, len(records))]
			query, args := usageInsert(batch)
			if _, err := tx.ExecContext(ctx, s.q(query), args...); err != nil {
				return err
			}
		}
		return nil
	})
	return s.mapErr("insert usage", err)
}

func usageInsert(batch []gateway.UsageRecord) (string, []any) {
	var b strings.Builder
	b.WriteString("INSERT INTO usage_records (" + usageColumns + ") VALUES ")
	args := make([]any, 0, len(batch)*usageColumnCount)
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", usageColumnCount), ", ") + ")"
	for i, r := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
		created := r.CreatedAt
		if created.IsZero() {
			created = now()
		}
		args = append(args,
			created.UTC().Truncate(time.Microsecond), r.RequestID, r.UserID, r.KeyID, r.EndUserID,
			r.Model, r.ServedModel, r.Provider,
			r.PromptTokens, r.CompletionTokens, r.Latency.Milliseconds(), r.TTFT.Milliseconds(),
			string(r.Status), r.HTTPStatus, r.ErrorCode, int64(r.Cost))
	}
	return b.String(), args
}

// UsageSummary aggregates usage rows in [q.From, q.To) matching q's filters,
// grouped by q.GroupBy and ordered by group. It returns an error wrapping
// nothing domain-specific for an unknown GroupBy.
func (s *Store) UsageSummary(ctx context.Context, q gateway.UsageQuery) ([]gateway.UsageGroup, error) {
	var group string
	switch q.GroupBy {
	case gateway.UsageByModel:
		group = "u.model"
	case gateway.UsageByKey:
		group = "u.key_id"
	case gateway.UsageByUser:
		group = "u.user_id"
	case gateway.UsageByStatus:
		group = "u.status"
	case gateway.UsageByServedModel:
		group = "u.served_model"
	case gateway.UsageByDay:
		group = s.usageDayExpr()
	default:
		return nil, fmt.Errorf("usage summary: unknown group_by %q", q.GroupBy)
	}
	where := []string{"u.created_at >= ?", "u.created_at < ?"}
	args := []any{q.From.UTC(), q.To.UTC()}
	for _, f := range []struct{ col, val string }{{"u.user_id", q.UserID}, {"u.key_id", q.KeyID}, {"u.end_user_id", q.EndUserID}} {
		if f.val != "" {
			where = append(where, f.col+" = ?")
			args = append(args, f.val)
		}
	}
	// A key's name comes from api_keys (a key that was never stored, or a
	// request without a key, has none).
	name, join := `''`, ""
	if q.GroupBy == gateway.UsageByKey {
		name, join = `COALESCE(MAX(k.name), '')`, ` LEFT JOIN api_keys k ON k.id = u.key_id`
	}
	count := func(status gateway.UsageStatus) string {
		return `COALESCE(SUM(CASE WHEN u.status = '` + string(status) + `' THEN 1 ELSE 0 END), 0)`
	}
	query := `SELECT ` + group + ` AS grp, ` + name + `, COUNT(*), COALESCE(SUM(u.prompt_tokens), 0), COALESCE(SUM(u.completion_tokens), 0), COALESCE(SUM(u.cost), 0), ` +
		count(gateway.UsageOK) + `, ` + count(gateway.UsageError) + `, ` + count(gateway.UsageIncomplete) + `, ` + count(gateway.UsageCanceled) + `
		FROM usage_records u` + join + ` WHERE ` + strings.Join(where, " AND ") + ` GROUP BY grp ORDER BY grp`
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.mapErr("usage summary", err)
	}
	defer rows.Close()
	out := []gateway.UsageGroup{}
	for rows.Next() {
		var g gateway.UsageGroup
		st := &g.Statuses
		if err := rows.Scan(&g.Group, &g.Name, &g.Requests, &g.PromptTokens, &g.CompletionTokens, &g.Cost,
			&st.OK, &st.Error, &st.Incomplete, &st.Canceled); err != nil {
			return nil, s.mapErr("usage summary", err)
		}
		out = append(out, g)
	}
	return out, s.mapErr("usage summary", rows.Err())
}

// usageDayExpr is the UTC calendar day of created_at as YYYY-MM-DD. SQLite
// stores UTC times as text that starts with the date.
func (s *Store) usageDayExpr() string {
	if s.d.name == "postgres" {
		return `to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	return `substr(u.created_at, 1, 10)`
}
