package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.BudgetStore = (*Store)(nil)

const budgetColumns = `id, subject_type, subject, period, max_tokens, max_cost, alert_percent, created_at, updated_at`

func scanBudget(sc scanner) (gateway.Budget, error) {
	var (
		b          gateway.Budget
		st, period string
		maxT, maxC sql.NullInt64
	)
	if err := sc.Scan(&b.ID, &st, &b.Subject, &period, &maxT, &maxC, &b.AlertPercent, &b.CreatedAt, &b.UpdatedAt); err != nil {
		return b, err
	}
	b.SubjectType, b.Period = gateway.BudgetSubjectType(st), gateway.BudgetPeriod(period)
	if maxT.Valid {
		b.MaxTokens = &maxT.Int64
	}
	if maxC.Valid {
		c := gateway.Micros(maxC.Int64)
		b.MaxCost = &c
	}
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	return b, nil
}

func nullInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func nullMicros(p *gateway.Micros) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// CreateBudget stores b, filling ID, CreatedAt and UpdatedAt;
// gateway.ErrConflict when the subject already has a budget of the period.
func (s *Store) CreateBudget(ctx context.Context, b *gateway.Budget) error {
	t, id := now(), uuid.NewString()
	_, err := s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO budgets (`+budgetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id, string(b.SubjectType), b.Subject, string(b.Period), nullInt(b.MaxTokens), nullMicros(b.MaxCost), b.AlertPercent, t, t)
	if err != nil {
		return s.mapErr("create budget", err)
	}
	b.ID, b.CreatedAt, b.UpdatedAt = id, t, t
	return nil
}

// Budget returns the budget id, or gateway.ErrNotFound.
func (s *Store) Budget(ctx context.Context, id string) (gateway.Budget, error) {
	b, err := scanBudget(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+budgetColumns+` FROM budgets WHERE id = ?`), id))
	return b, s.mapErr("get budget", err)
}

// ListBudgets returns every budget in creation order.
func (s *Store) ListBudgets(ctx context.Context) ([]gateway.Budget, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT `+budgetColumns+` FROM budgets ORDER BY created_at, id`)
	if err != nil {
		return nil, s.mapErr("list budgets", err)
	}
	defer rows.Close()
	out := []gateway.Budget{}
	for rows.Next() {
		b, err := scanBudget(rows)
		if err != nil {
			return nil, s.mapErr("list budgets", err)
		}
		out = append(out, b)
	}
	return out, s.mapErr("list budgets", rows.Err())
}

// UpdateBudget replaces the fields of budget b.ID and sets b.UpdatedAt
// and b.CreatedAt; gateway.ErrNotFound, gateway.ErrConflict.
func (s *Store) UpdateBudget(ctx context.Context, b *gateway.Budget) error {
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE budgets SET subject_type = ?, subject = ?, period = ?, max_tokens = ?, max_cost = ?, alert_percent = ?, updated_at = ? WHERE id = ?`),
		string(b.SubjectType), b.Subject, string(b.Period), nullInt(b.MaxTokens), nullMicros(b.MaxCost), b.AlertPercent, now(), b.ID)
	if err != nil {
		return s.mapErr("update budget", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return s.mapErr("update budget", sql.ErrNoRows)
	}
	stored, err := s.Budget(ctx, b.ID)
	if err != nil {
		return err
	}
	*b = stored
	return nil
}

// DeleteBudget deletes the budget id, its counters and reservations.
func (s *Store) DeleteBudget(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.deleteBudgets(ctx, tx, `id = ?`, id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return s.mapErr("delete budget", err)
	}
	return s.mapErr("delete budget", err)
}

// DeleteSubjectBudgets deletes every budget of the subject.
func (s *Store) DeleteSubjectBudgets(ctx context.Context, t gateway.BudgetSubjectType, subject string) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM budgets WHERE subject_type = ? AND subject = ?`), string(t), subject).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return s.deleteBudgets(ctx, tx, `subject_type = ? AND subject = ?`, string(t), subject)
	})
	return n, s.mapErr("delete subject budgets", err)
}

// ReplaceSubjectBudgets deletes every budget of b's subject and stores b,
// in one transaction.
func (s *Store) ReplaceSubjectBudgets(ctx context.Context, b *gateway.Budget) error {
	t, id := now(), uuid.NewString()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.deleteBudgets(ctx, tx, `subject_type = ? AND subject = ?`, string(b.SubjectType), b.Subject); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO budgets (`+budgetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			id, string(b.SubjectType), b.Subject, string(b.Period), nullInt(b.MaxTokens), nullMicros(b.MaxCost), b.AlertPercent, t, t)
		return err
	})
	if err != nil {
		return s.mapErr("replace subject budgets", err)
	}
	b.ID, b.CreatedAt, b.UpdatedAt = id, t, t
	return nil
}

// deleteBudgets deletes the budgets matching where with their rows
// (explicitly: SQLite's foreign keys may be off on old connections).
func (s *Store) deleteBudgets(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	sub := `SELECT id FROM budgets WHERE ` + where
	for _, tbl := range []string{"budget_reservations", "budget_counters"} {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+tbl+` WHERE budget_id IN (`+sub+`)`), args...); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM budgets WHERE `+where), args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// sortedCharges orders charges by budget id, so concurrent transactions
// lock counter rows in the same order (no deadlock on PostgreSQL).
func sortedCharges(charges []gateway.BudgetCharge) []gateway.BudgetCharge {
	out := slices.Clone(charges)
	slices.SortFunc(out, func(a, b gateway.BudgetCharge) int { return strings.Compare(a.Budget.ID, b.Budget.ID) })
	return out
}

// ensureCounter creates a budget period's counter row unless it exists or
// the budget is gone (deleted since a request matched it: its counters
// went with it, and nothing is charged to it any more).
func (s *Store) ensureCounter(ctx context.Context, tx *sql.Tx, budgetID string, start time.Time) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO budget_counters (budget_id, period_start)
		SELECT ?, ? WHERE EXISTS (SELECT 1 FROM budgets WHERE id = ?)
		ON CONFLICT (budget_id, period_start) DO NOTHING`),
		budgetID, start.UTC(), budgetID)
	return err
}

// budgetExists reports whether budget id is still stored.
func (s *Store) budgetExists(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM budgets WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// errBudgetRefused ends a reservation transaction that a budget refused.
type errBudgetRefused struct{ id string }

func (e errBudgetRefused) Error() string { return "budget " + e.id + " refused" }

// ReserveBudgets reserves every charge in one transaction: per budget one
// guarded UPDATE (used + reserved + charge within each cap) and the
// reservation's row. A period's counter row is created only when the
// UPDATE finds none (the first request of a period).
func (s *Store) ReserveBudgets(ctx context.Context, id string, charges []gateway.BudgetCharge, expires time.Time) (string, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, c := range sortedCharges(charges) {
			ok, err := s.reserveOne(ctx, tx, c)
			if err == nil && !ok {
				// No room, or no counter row yet: create it (a no-op
				// when it exists) and try once more.
				if err = s.ensureCounter(ctx, tx, c.Budget.ID, c.PeriodStart); err == nil {
					ok, err = s.reserveOne(ctx, tx, c)
				}
			}
			if err == nil && !ok {
				var exists bool
				if exists, err = s.budgetExists(ctx, tx, c.Budget.ID); err == nil && !exists {
					continue // deleted since the request matched it: no longer applies
				}
			}
			switch {
			case err != nil:
				return err
			case !ok:
				return errBudgetRefused{c.Budget.ID}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO budget_reservations (id, budget_id, period_start, tokens, cost, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
				id, c.Budget.ID, c.PeriodStart.UTC(), c.Tokens, int64(c.Cost), expires.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	var refused errBudgetRefused
	if errors.As(err, &refused) {
		return refused.id, nil
	}
	return "", s.mapErr("reserve budgets", err)
}

// reserveOne is the guarded UPDATE of one charge; false when it changed
// no row (no room, or no counter row).
func (s *Store) reserveOne(ctx context.Context, tx *sql.Tx, c gateway.BudgetCharge) (bool, error) {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE budget_counters SET reserved_tokens = reserved_tokens + ?, reserved_cost = reserved_cost + ?
		WHERE budget_id = ? AND period_start = ?
		AND (CAST(? AS BIGINT) IS NULL OR used_tokens + reserved_tokens + ? <= ?)
		AND (CAST(? AS BIGINT) IS NULL OR used_cost + reserved_cost + ? <= ?)`),
		c.Tokens, int64(c.Cost), c.Budget.ID, c.PeriodStart.UTC(),
		nullInt(c.Budget.MaxTokens), c.Tokens, nullInt(c.Budget.MaxTokens),
		nullMicros(c.Budget.MaxCost), int64(c.Cost), nullMicros(c.Budget.MaxCost))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// SettleBudgets applies uses in one transaction (settleTx).
func (s *Store) SettleBudgets(ctx context.Context, uses []gateway.SettledUse) ([]gateway.BudgetCounter, error) {
	var out []gateway.BudgetCounter
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.settleTx(ctx, tx, uses)
		return err
	})
	return out, s.mapErr("settle budgets", err)
}

// periodKey is one budget's period.
type periodKey struct {
	budget string
	start  int64 // Unix seconds
}

// periodDelta is what a batch of settlements changes on one period.
type periodDelta struct {
	start                            time.Time
	usedT, usedC, releaseT, releaseC int64
}

// settleTx settles uses in tx: the database reservations of the unshared
// ones are deleted (what a row still holds is released; an expired one
// was released already), the real uses are summed per budget period, and
// each touched counter gets one UPDATE, in budget order (the lock order
// ReserveBudgets uses too). It returns the touched counters; a budget
// deleted meanwhile is skipped, so a settlement never fails the usage
// write it rides with.
func (s *Store) settleTx(ctx context.Context, tx *sql.Tx, uses []gateway.SettledUse) ([]gateway.BudgetCounter, error) {
	deltas := map[periodKey]*periodDelta{}
	delta := func(budget string, start time.Time) *periodDelta {
		k := periodKey{budget, start.Unix()}
		d := deltas[k]
		if d == nil {
			d = &periodDelta{start: start.UTC()}
			deltas[k] = d
		}
		return d
	}
	for _, u := range uses {
		st := u.Settlement
		if st == nil {
			continue
		}
		for _, c := range st.Reserved {
			d := delta(c.BudgetID, c.PeriodStart)
			d.usedT += u.Tokens
			d.usedC += int64(u.Cost)
		}
		if st.Shared {
			continue
		}
		if err := s.releaseReservation(ctx, tx, st.ReservationID, delta); err != nil {
			return nil, err
		}
	}
	keys := make([]periodKey, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b periodKey) int {
		if c := strings.Compare(a.budget, b.budget); c != 0 {
			return c
		}
		return cmp.Compare(a.start, b.start)
	})
	out := make([]gateway.BudgetCounter, 0, len(keys))
	for _, k := range keys {
		d := deltas[k]
		if err := s.ensureCounter(ctx, tx, k.budget, d.start); err != nil {
			return nil, err
		}
		bc := gateway.BudgetCounter{BudgetID: k.budget, PeriodStart: d.start}
		var uc, rc int64
		err := tx.QueryRowContext(ctx, s.q(`UPDATE budget_counters SET used_tokens = used_tokens + ?, used_cost = used_cost + ?,
			reserved_tokens = reserved_tokens - ?, reserved_cost = reserved_cost - ? WHERE budget_id = ? AND period_start = ?
			RETURNING used_tokens, used_cost, reserved_tokens, reserved_cost`),
			d.usedT, d.usedC, d.releaseT, d.releaseC, k.budget, d.start).Scan(&bc.UsedTokens, &uc, &bc.ReservedTokens, &rc)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // the budget was deleted: nothing to charge
		case err != nil:
			return nil, err
		}
		bc.UsedCost, bc.ReservedCost = gateway.Micros(uc), gateway.Micros(rc)
		out = append(out, bc)
	}
	return out, nil
}

// releaseReservation deletes reservation id's rows and adds what they held
// to the release of their periods.
func (s *Store) releaseReservation(ctx context.Context, tx *sql.Tx, id string, delta func(string, time.Time) *periodDelta) error {
	rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM budget_reservations WHERE id = ? RETURNING budget_id, period_start, tokens, cost`), id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			budget   string
			start    time.Time
			tok, cst int64
		)
		if err := rows.Scan(&budget, &start, &tok, &cst); err != nil {
			return err
		}
		d := delta(budget, start)
		d.releaseT += tok
		d.releaseC += cst
	}
	return rows.Err()
}

// ExpireBudgetReservations releases the reservations that expired before t.
func (s *Store) ExpireBudgetReservations(ctx context.Context, t time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, budget_id, period_start, tokens, cost FROM budget_reservations WHERE expires_at < ?`), t.UTC())
		if err != nil {
			return err
		}
		type res struct {
			id, budget string
			start      time.Time
			tok, cost  int64
		}
		var expired []res
		for rows.Next() {
			var r res
			if err := rows.Scan(&r.id, &r.budget, &r.start, &r.tok, &r.cost); err != nil {
				rows.Close()
				return err
			}
			expired = append(expired, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		slices.SortFunc(expired, func(a, b res) int { return strings.Compare(a.budget, b.budget) })
		for _, r := range expired {
			del, err := tx.ExecContext(ctx, s.q(`DELETE FROM budget_reservations WHERE id = ? AND budget_id = ?`), r.id, r.budget)
			if err != nil {
				return err
			}
			if k, _ := del.RowsAffected(); k == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE budget_counters SET reserved_tokens = reserved_tokens - ?, reserved_cost = reserved_cost - ? WHERE budget_id = ? AND period_start = ?`),
				r.tok, r.cost, r.budget, r.start.UTC()); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, s.mapErr("expire budget reservations", err)
}

func (s *Store) counter(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, budgetID string, start time.Time) (gateway.BudgetCounter, error) {
	bc := gateway.BudgetCounter{BudgetID: budgetID, PeriodStart: start.UTC()}
	var uc, rc int64
	err := q.QueryRowContext(ctx, s.q(`SELECT used_tokens, used_cost, reserved_tokens, reserved_cost FROM budget_counters WHERE budget_id = ? AND period_start = ?`),
		budgetID, start.UTC()).Scan(&bc.UsedTokens, &uc, &bc.ReservedTokens, &rc)
	if errors.Is(err, sql.ErrNoRows) {
		return bc, nil
	}
	bc.UsedCost, bc.ReservedCost = gateway.Micros(uc), gateway.Micros(rc)
	return bc, err
}

// BudgetCounter returns a budget's period (zero when unused).
func (s *Store) BudgetCounter(ctx context.Context, budgetID string, periodStart time.Time) (gateway.BudgetCounter, error) {
	bc, err := s.counter(ctx, s.conn(ctx), budgetID, periodStart)
	return bc, s.mapErr("budget counter", err)
}

// MarkBudgetAlerted sets the alerted flag of a budget's period and reports
// whether it was not set before.
func (s *Store) MarkBudgetAlerted(ctx context.Context, budgetID string, periodStart time.Time) (bool, error) {
	var first bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ensureCounter(ctx, tx, budgetID, periodStart); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE budget_counters SET alerted = ? WHERE budget_id = ? AND period_start = ? AND alerted = ?`), true, budgetID, periodStart.UTC(), false)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	return first, s.mapErr("mark budget alerted", err)
}
