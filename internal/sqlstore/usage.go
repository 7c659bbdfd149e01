package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// usageColumns are the columns InsertUsage writes, in order.
const usageColumns = `created_at, request_id, user_id, key_id, end_user_id, model, served_model, provider,
	prompt_tokens, completion_tokens, latency_ms, ttft_ms, status, http_status, error_code, cost, record_id`

const usageColumnCount = 17

// usageRowsPerStatement keeps one INSERT well below both engines' limits on
// bound parameters (SQLite 32766, PostgreSQL 65535).
const usageRowsPerStatement = 500

var _ gateway.UsageStore = (*Store)(nil)

// InsertUsage writes records in one transaction with multi-row INSERTs. A
// record whose ID is already stored is skipped, so a replayed batch never
// counts twice; records without an ID are always inserted. The rows
// actually inserted are added to usage_daily and usage_hourly, and their
// budget settlements applied, in the same transaction.
func (s *Store) InsertUsage(ctx context.Context, records []gateway.UsageRecord) error {
	_, err := s.InsertUsageSettling(ctx, records)
	return err
}

var _ gateway.SettlingUsageStore = (*Store)(nil)

// InsertUsageSettling is InsertUsage returning what it settled.
func (s *Store) InsertUsageSettling(ctx context.Context, records []gateway.UsageRecord) (gateway.BudgetSettled, error) {
	var settled gateway.BudgetSettled
	if len(records) == 0 {
		return settled, nil
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		settled = gateway.BudgetSettled{}
		inserted := map[string]bool{}
		for start := 0; start < len(records); start += usageRowsPerStatement {
			batch := records[start:min(start+usageRowsPerStatement, len(records))]
			query, args := usageInsert(batch)
			rows, err := tx.QueryContext(ctx, s.q(query+" RETURNING record_id"), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id sql.NullString
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				inserted[id.String] = true
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		settledIDs := map[string]bool{} // a record ID repeated within records settles once
		for _, r := range records {
			if r.Settlement != nil && inserted[r.ID] && (r.ID == "" || !settledIDs[r.ID]) {
				settledIDs[r.ID] = true
				settled.Uses = append(settled.Uses, gateway.SettledUse{Settlement: r.Settlement,
					Tokens: r.PromptTokens + r.CompletionTokens, Cost: r.Cost, RequestID: r.RequestID})
			}
		}
		if err := s.addRollups(ctx, tx, records, inserted); err != nil {
			return err
		}
		if len(settled.Uses) == 0 {
			return nil
		}
		var err error
		settled.Counters, err = s.settleTx(ctx, tx, settled.Uses)
		return err
	})
	return settled, s.mapErr("insert usage", err)
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
			string(r.Status), r.HTTPStatus, r.ErrorCode, int64(r.Cost), nullString(r.ID))
	}
	b.WriteString(" ON CONFLICT (record_id) DO NOTHING")
	return b.String(), args
}

// UsageSummary aggregates usage rows in [q.From, q.To) matching q's filters,
// grouped by q.GroupBy and ordered by group (byte order). Whole UTC days of
// the period are read from usage_daily, whole hours of its partial first
// and last day from usage_hourly (from usage_hourly_floor on), and only
// the rest (partial hours, or older partial days) from usage_records, so
// the cost follows the number of groups, days and hours, not of records.
// It returns an error wrapping nothing domain-specific for an unknown
// GroupBy.
func (s *Store) UsageSummary(ctx context.Context, q gateway.UsageQuery) ([]gateway.UsageGroup, error) {
	if _, ok := gateway.ParseUsageGroupBy(string(q.GroupBy)); !ok {
		return nil, fmt.Errorf("usage summary: unknown group_by %q", q.GroupBy)
	}
	from, to := q.From.UTC(), q.To.UTC()
	merged := map[string]*gateway.UsageGroup{}
	add := func(ru *rollup, lo, hi time.Time) error {
		if !lo.Before(hi) {
			return nil
		}
		return s.usageSummaryPart(ctx, q, ru, lo, hi, merged)
	}
	var floor *time.Time // usage_hourly_floor, read when an edge has a whole hour
	edge := func(lo, hi time.Time) error {
		hLo, hHi := ceilTime(lo, time.Hour), hi.Truncate(time.Hour)
		if lo.Before(hi) && hLo.Before(hHi) && floor == nil {
			f, err := s.usageHourlyFloor(ctx)
			if err != nil {
				return err
			}
			floor = &f
		}
		if floor != nil && floor.After(hLo) {
			hLo = *floor
		}
		if !hLo.Before(hHi) {
			return add(nil, lo, hi)
		}
		return errors.Join(add(nil, lo, hLo), add(&hourlyRollup, hLo, hHi), add(nil, hHi, hi))
	}
	firstDay, lastDay := ceilTime(from, 24*time.Hour), to.Truncate(24*time.Hour)
	var err error
	if firstDay.Before(lastDay) {
		err = errors.Join(edge(from, firstDay), add(&dailyRollup, firstDay, lastDay), edge(lastDay, to))
	} else {
		err = edge(from, to)
	}
	if err != nil {
		return nil, s.mapErr("usage summary", err)
	}
	out := make([]gateway.UsageGroup, 0, len(merged))
	for _, g := range merged {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b gateway.UsageGroup) int { return strings.Compare(a.Group, b.Group) })
	return out, nil
}

// ceilTime is t rounded up to a multiple of d (UTC days and hours).
func ceilTime(t time.Time, d time.Duration) time.Time {
	if c := t.Truncate(d); c.Before(t) {
		return c.Add(d)
	}
	return t
}

// usageSummaryPart adds the groups of [lo, hi) to merged, read from the
// rollup ru (whole periods of it) or, when ru is nil, usage_records.
func (s *Store) usageSummaryPart(ctx context.Context, q gateway.UsageQuery, ru *rollup, lo, hi time.Time, merged map[string]*gateway.UsageGroup) error {
	query, args := s.usagePartQuery(q, ru, lo, hi)
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var g gateway.UsageGroup
		st := &g.Statuses
		if err := rows.Scan(&g.Group, &g.Name, &g.Requests, &g.PromptTokens, &g.CompletionTokens, &g.Cost,
			&st.OK, &st.Error, &st.Incomplete, &st.Canceled); err != nil {
			return err
		}
		m := merged[g.Group]
		if m == nil {
			merged[g.Group] = &g
			continue
		}
		m.Name = max(m.Name, g.Name)
		m.Requests += g.Requests
		m.PromptTokens += g.PromptTokens
		m.CompletionTokens += g.CompletionTokens
		m.Cost += g.Cost
		m.Statuses.OK += st.OK
		m.Statuses.Error += st.Error
		m.Statuses.Incomplete += st.Incomplete
		m.Statuses.Canceled += st.Canceled
	}
	return rows.Err()
}

// usagePartQuery is usageSummaryPart's statement and arguments.
func (s *Store) usagePartQuery(q gateway.UsageQuery, ru *rollup, lo, hi time.Time) (string, []any) {
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
		if ru != nil {
			group = "substr(u." + ru.period + ", 1, 10)" // a day or an hour
		}
	}
	table, requests, weight := "usage_records", "COUNT(*)", "1"
	where := []string{"u.created_at >= ?", "u.created_at < ?"}
	args := []any{lo, hi}
	if ru != nil {
		table, requests, weight = ru.table, "COALESCE(SUM(u.requests), 0)", "u.requests"
		where = []string{"u." + ru.period + " >= ?", "u." + ru.period + " < ?"}
		args = []any{ru.key(lo), ru.key(hi)}
	}
	if ru == nil && q.UserID != "" {
		// One user's raw rows of a period's edge (one UTC day, two at
		// most) come from usage_records_day_user: its entries grow within
		// today's, where a (user, time) index took writes all over.
		day, arg := s.usageRecordDay()
		where = append(where, day+" IN ("+arg+", "+arg+")")
		args = append(args, usageDay(lo), usageDay(hi.Add(-time.Microsecond)))
	}
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
		return `COALESCE(SUM(CASE WHEN u.status = '` + string(status) + `' THEN ` + weight + ` ELSE 0 END), 0)`
	}
	return `SELECT ` + group + ` AS grp, ` + name + `, ` + requests + `, COALESCE(SUM(u.prompt_tokens), 0), COALESCE(SUM(u.completion_tokens), 0), COALESCE(SUM(u.cost), 0), ` +
		count(gateway.UsageOK) + `, ` + count(gateway.UsageError) + `, ` + count(gateway.UsageIncomplete) + `, ` + count(gateway.UsageCanceled) + `
		FROM ` + table + ` u` + join + ` WHERE ` + strings.Join(where, " AND ") + ` GROUP BY grp`, args
}

// usageDayExpr is the UTC calendar day of created_at as YYYY-MM-DD. SQLite
// stores UTC times as text that starts with the date.
func (s *Store) usageDayExpr() string {
	if s.d.name == "postgres" {
		return `to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	return `substr(u.created_at, 1, 10)`
}

// usageRecordDay is the expression of usage_records_day_user (the UTC
// day of created_at) and the placeholder of a day ('YYYY-MM-DD') to
// compare it with.
func (s *Store) usageRecordDay() (expr, arg string) {
	if s.d.name == "postgres" {
		return `CAST(u.created_at AT TIME ZONE 'UTC' AS date)`, `CAST(? AS date)`
	}
	return `substr(u.created_at, 1, 10)`, `?`
}

// nullString is s, or NULL when s is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
