package gateway

import (
	"context"
	"time"
)

// BudgetSubjectType says what a budget applies to (SPEC 5.1).
type BudgetSubjectType string

// The budget subjects. An end_user subject is "<key id>:<end user id>".
const (
	BudgetKey     BudgetSubjectType = "key"
	BudgetUser    BudgetSubjectType = "user"
	BudgetEndUser BudgetSubjectType = "end_user"
	BudgetRole    BudgetSubjectType = "role"
)

// BudgetPeriod is the calendar period (UTC) a budget resets on.
type BudgetPeriod string

// The budget periods; weeks start on Monday; total never resets.
const (
	PeriodDay   BudgetPeriod = "day"
	PeriodWeek  BudgetPeriod = "week"
	PeriodMonth BudgetPeriod = "month"
	PeriodTotal BudgetPeriod = "total"
)

// TotalPeriodStart is the period start of every "total" budget.
var TotalPeriodStart = time.Unix(0, 0).UTC()

// Bounds returns the UTC period containing t: [start, end). For total,
// start is TotalPeriodStart and end is the zero time.
func (p BudgetPeriod) Bounds(t time.Time) (start, end time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case PeriodDay:
		return day, day.AddDate(0, 0, 1)
	case PeriodWeek:
		monday := day.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
		return monday, monday.AddDate(0, 0, 7)
	case PeriodMonth:
		first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return first, first.AddDate(0, 1, 0)
	}
	return TotalPeriodStart, time.Time{}
}

// Valid reports whether p is a known period.
func (p BudgetPeriod) Valid() bool {
	switch p {
	case PeriodDay, PeriodWeek, PeriodMonth, PeriodTotal:
		return true
	}
	return false
}

// Valid reports whether t is a known subject type.
func (t BudgetSubjectType) Valid() bool {
	switch t {
	case BudgetKey, BudgetUser, BudgetEndUser, BudgetRole:
		return true
	}
	return false
}

// Budget caps what a subject may spend per period: tokens, cost or both
// (nil: no cap of that kind). AlertPercent (0: none) is the share of a cap
// whose crossing is logged and counted once per period.
type Budget struct {
	ID           string
	SubjectType  BudgetSubjectType
	Subject      string
	Period       BudgetPeriod
	MaxTokens    *int64
	MaxCost      *Micros
	AlertPercent int
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// BudgetCharge is an amount charged to one budget's current period.
type BudgetCharge struct {
	Budget      Budget
	PeriodStart time.Time
	Tokens      int64
	Cost        Micros
}

// BudgetCounter is one budget's period: settled use and open reservations.
type BudgetCounter struct {
	BudgetID       string
	PeriodStart    time.Time
	UsedTokens     int64
	UsedCost       Micros
	ReservedTokens int64
	ReservedCost   Micros
}

// BudgetStore keeps budgets and their counters.
type BudgetStore interface {
	// CreateBudget stores b, filling ID, CreatedAt and UpdatedAt;
	// ErrConflict when the subject already has a budget of that period.
	CreateBudget(ctx context.Context, b *Budget) error
	// Budget returns the budget id, or ErrNotFound.
	Budget(ctx context.Context, id string) (Budget, error)
	// ListBudgets returns every budget in creation order.
	ListBudgets(ctx context.Context) ([]Budget, error)
	// UpdateBudget replaces b.ID's fields (ErrNotFound, ErrConflict).
	UpdateBudget(ctx context.Context, b *Budget) error
	// DeleteBudget deletes the budget id and its counters (ErrNotFound).
	DeleteBudget(ctx context.Context, id string) error
	// DeleteSubjectBudgets deletes every budget of a subject and returns
	// how many there were.
	DeleteSubjectBudgets(ctx context.Context, t BudgetSubjectType, subject string) (int, error)
	// ReplaceSubjectBudgets deletes every budget of b's subject and stores
	// b, in one transaction (filling ID, CreatedAt, UpdatedAt).
	ReplaceSubjectBudgets(ctx context.Context, b *Budget) error

	// ReserveBudgets adds every charge to its budget's reserved amounts in
	// one transaction, each with one guarded UPDATE that fails when used +
	// reserved + charge would exceed a cap; it records the reservation id
	// (expiring at expires). When a budget refuses, nothing is reserved
	// and refused is that budget's id.
	ReserveBudgets(ctx context.Context, id string, charges []BudgetCharge, expires time.Time) (refused string, err error)
	// SettleBudgets applies uses in one transaction: each use's
	// reservation, if it has not expired yet, is released, and every
	// budget period it reserved gets the real use added. It returns the
	// counters it touched, after the update, ordered by budget and period.
	SettleBudgets(ctx context.Context, uses []SettledUse) ([]BudgetCounter, error)
	// ExpireBudgetReservations releases reservations that expired before
	// t and returns how many it released.
	ExpireBudgetReservations(ctx context.Context, t time.Time) (int, error)
	// BudgetCounter returns a budget's period (zero amounts when unused).
	BudgetCounter(ctx context.Context, budgetID string, periodStart time.Time) (BudgetCounter, error)
	// MarkBudgetAlerted records the alert of a budget's period and reports
	// whether this call was the first to do so.
	MarkBudgetAlerted(ctx context.Context, budgetID string, periodStart time.Time) (bool, error)
}

// ReservedCharge is what one reservation holds on one budget's period.
type ReservedCharge struct {
	BudgetID    string
	PeriodStart time.Time
	Tokens      int64
	Cost        Micros
}

// BudgetSettlement is what an admitted request leaves to settle: its
// reservation on every matching budget's period. The request's usage
// record carries it, so the usage writer settles the real use in the
// transaction that stores the record: off the request path, and exactly
// once however often the record is replayed. Until then the reservation
// holds the worst case, so a budget is over-counted, never exceeded.
type BudgetSettlement struct {
	ReservationID string
	// Shared: reserved on the shared counters (Redis), which are
	// released after the database has the use; otherwise reserved in the
	// database (budget_reservations).
	Shared   bool
	Reserved []ReservedCharge
}

// SettledUse is a settlement and the real use (tokens and cost) it settles.
type SettledUse struct {
	Settlement *BudgetSettlement
	Tokens     int64
	Cost       Micros
	// RequestID is the request's (its usage record's), for the audit
	// record of an alert the use triggers.
	RequestID string
}

// BudgetSettled is what one write settled: the uses applied (each once)
// and the counters they touched after the update.
type BudgetSettled struct {
	Uses     []SettledUse
	Counters []BudgetCounter
}

// SettlingUsageStore is a UsageStore that settles budgets with the usage.
type SettlingUsageStore interface {
	UsageStore
	// InsertUsageSettling is InsertUsage that, in the same transaction,
	// settles (as SettleBudgets does) the Settlement of every record it
	// actually inserts, with the record's tokens and cost; it returns
	// what it settled.
	InsertUsageSettling(ctx context.Context, records []UsageRecord) (BudgetSettled, error)
}

// Admission is an admitted request's hold on its budgets (Settlement,
// nil when none matched) and max_parallel slots. A nil *Admission holds
// nothing; its methods do nothing.
type Admission struct {
	Settlement *BudgetSettlement
	// Release frees the request's max_parallel slots (nil: none held).
	Release func(ctx context.Context)
	// SettleNow settles Settlement at once, for callers without a usage
	// writer (nil: nothing to settle).
	SettleNow func(ctx context.Context, use SettledUse)
}

// End frees a's max_parallel slots once the request has ended.
func (a *Admission) End(ctx context.Context) {
	if a != nil && a.Release != nil {
		a.Release(ctx)
		a.Release = nil
	}
}

// Settle settles a's reservations with the real use now (not through a
// usage record) and ends it.
func (a *Admission) Settle(ctx context.Context, tokens int64, cost Micros) {
	if a == nil {
		return
	}
	if a.SettleNow != nil && a.Settlement != nil {
		a.SettleNow(ctx, SettledUse{Settlement: a.Settlement, Tokens: tokens, Cost: cost})
		a.SettleNow = nil
	}
	a.End(ctx)
}
