package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// dailyKey is one usage_daily row's dimensions.
type dailyKey struct {
	day, user, key, endUser, model, served, status string
}

// dailySums is one usage_daily row's sums.
type dailySums struct {
	requests, prompt, completion, cost int64
}

// usageDay is the UTC calendar day of t as usage_daily stores it.
func usageDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// addDaily adds the records that were inserted (an ID in inserted, or no
// ID) to usage_daily. A record ID repeated within records counts once.
func (s *Store) addDaily(ctx context.Context, tx *sql.Tx, records []gateway.UsageRecord, inserted map[string]bool) error {
	sums := map[dailyKey]*dailySums{}
	var order []dailyKey
	for _, r := range records {
		if r.ID != "" {
			if !inserted[r.ID] {
				continue
			}
			delete(inserted, r.ID) // a repeat within the batch was not inserted
		}
		created := r.CreatedAt
		if created.IsZero() {
			created = now()
		}
		k := dailyKey{usageDay(created), r.UserID, r.KeyID, r.EndUserID, r.Model, r.ServedModel, string(r.Status)}
		d := sums[k]
		if d == nil {
			d = &dailySums{}
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
		b.WriteString(`INSERT INTO usage_daily (day, user_id, key_id, end_user_id, model, served_model, status,
			requests, prompt_tokens, completion_tokens, cost) VALUES `)
		args := make([]any, 0, len(keys)*11)
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			d := sums[k]
			args = append(args, k.day, k.user, k.key, k.endUser, k.model, k.served, k.status, d.requests, d.prompt, d.completion, d.cost)
		}
		b.WriteString(` ON CONFLICT (day, user_id, key_id, end_user_id, model, served_model, status) DO UPDATE SET
			requests = usage_daily.requests + excluded.requests,
			prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
			completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
			cost = usage_daily.cost + excluded.cost`)
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
