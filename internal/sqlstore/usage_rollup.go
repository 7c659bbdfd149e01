package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// rollupKey is one rollup row's dimensions: its period (a day or an
// hour) and the columns the usage API filters or groups by.
type rollupKey struct {
	period, user, key, endUser, model, served, status string
}

// rollupSums is one rollup row's sums.
type rollupSums struct {
	requests, prompt, completion, cost int64
}

// rollup is a table of usage sums per period: usage_daily per UTC day,
// usage_hourly per UTC hour (the last UsageHourlyRetention only).
type rollup struct {
	table, period string
	key           func(time.Time) string
}

var (
	dailyRollup  = rollup{"usage_daily", "day", usageDay}
	hourlyRollup = rollup{"usage_hourly", "hour", usageHour}
)

// UsageHourlyRetention is how long usage_hourly keeps an hour's sums: the
// server's hourly job prunes older hours (PruneUsageHourly), and summaries
// read partial edge days older than that from usage_records.
const UsageHourlyRetention = 7 * 24 * time.Hour

// usageDay is the UTC calendar day of t as usage_daily stores it.
func usageDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// usageHour is the UTC hour of t as usage_hourly stores it.
func usageHour(t time.Time) string { return t.UTC().Format("2006-01-02 15") }

// addRollups adds the records that were inserted (an ID in inserted, or
// no ID) to usage_daily and usage_hourly. A record ID repeated within
// records counts once.
func (s *Store) addRollups(ctx context.Context, tx *sql.Tx, records []gateway.UsageRecord, inserted map[string]bool) error {
	added := make([]gateway.UsageRecord, 0, len(records))
	for _, r := range records {
		if r.ID != "" {
			if !inserted[r.ID] {
				continue
			}
			delete(inserted, r.ID) // a repeat within the batch was not inserted
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now()
		}
		added = append(added, r)
	}
	for _, ru := range []rollup{dailyRollup, hourlyRollup} {
		if err := s.addRollup(ctx, tx, ru, added); err != nil {
			return err
		}
	}
	return nil
}

// addRollup adds records to the sums of ru's table.
func (s *Store) addRollup(ctx context.Context, tx *sql.Tx, ru rollup, records []gateway.UsageRecord) error {
	sums := map[rollupKey]*rollupSums{}
	var order []rollupKey
	for _, r := range records {
		k := rollupKey{ru.key(r.CreatedAt), r.UserID, r.KeyID, r.EndUserID, r.Model, r.ServedModel, string(r.Status)}
		d := sums[k]
		if d == nil {
			d = &rollupSums{}
			sums[k] = d
			order = append(order, k)
		}
		d.requests++
		d.prompt += r.PromptTokens
		d.completion += r.CompletionTokens
		d.cost += int64(r.Cost)
	}
	const perStatement = 500 // 11 parameters a row
	for start := 0; start < len(order); start += perStatement {
		keys := order[start:min(start+perStatement, len(order))]
		var b strings.Builder
		b.WriteString(`INSERT INTO ` + ru.table + ` (` + ru.period + `, user_id, key_id, end_user_id, model, served_model, status,
			requests, prompt_tokens, completion_tokens, cost) VALUES `)
		args := make([]any, 0, len(keys)*11)
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			d := sums[k]
			args = append(args, k.period, k.user, k.key, k.endUser, k.model, k.served, k.status, d.requests, d.prompt, d.completion, d.cost)
		}
		b.WriteString(` ON CONFLICT (` + ru.period + `, user_id, key_id, end_user_id, model, served_model, status) DO UPDATE SET
			requests = ` + ru.table + `.requests + excluded.requests,
			prompt_tokens = ` + ru.table + `.prompt_tokens + excluded.prompt_tokens,
			completion_tokens = ` + ru.table + `.completion_tokens + excluded.completion_tokens,
			cost = ` + ru.table + `.cost + excluded.cost`)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

// pruneChunk bounds one DELETE of PruneUsage, so a large backlog does not
// hold a long write lock.
const pruneChunk = 5000

// PruneUsage deletes raw usage records created before before, in chunks,
// and returns how many it deleted. usage_daily keeps their sums.
func (s *Store) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM usage_records WHERE id IN
			(SELECT id FROM usage_records WHERE created_at < ? ORDER BY created_at LIMIT ?)`), before.UTC(), pruneChunk)
		if err != nil {
			return total, s.mapErr("prune usage", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.mapErr("prune usage", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// PruneUsageHourly raises usage_hourly_floor to the hour of before and
// deletes the hours below the floor it replaces, one hour a statement (a
// backlog holds no long write lock), returning how many rows it deleted.
// Deleting one prune late means a summary that read the old floor still
// finds every hour it reads; rows a late record adds below the floor are
// never read and go with a later prune.
func (s *Store) PruneUsageHourly(ctx context.Context, before time.Time) (int64, error) {
	floor := usageHour(before)
	var old string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT hour FROM usage_hourly_floor`).Scan(&old); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE usage_hourly_floor SET hour = ? WHERE hour < ?`), floor, floor)
		return err
	})
	if err != nil {
		return 0, s.mapErr("prune hourly usage", err)
	}
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM usage_hourly WHERE hour = (SELECT MIN(hour) FROM usage_hourly) AND hour < ?`), min(old, floor))
		if err != nil {
			return total, s.mapErr("prune hourly usage", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.mapErr("prune hourly usage", err)
		}
		if n == 0 {
			return total, nil
		}
		total += n
	}
}

// usageHourlyFloor is the first hour usage_hourly holds completely.
func (s *Store) usageHourlyFloor(ctx context.Context) (time.Time, error) {
	var h string
	if err := s.conn(ctx).QueryRowContext(ctx, `SELECT hour FROM usage_hourly_floor`).Scan(&h); err != nil {
		return time.Time{}, err
	}
	return time.Parse("2006-01-02 15", h)
}
