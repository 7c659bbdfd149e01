package gateway

import (
	"context"
	"time"
)

// UsageStatus says how a completion ended.
type UsageStatus string

// The usage statuses.
const (
	// UsageOK is a completion that was delivered whole.
	UsageOK UsageStatus = "ok"
	// UsageError is a request that failed before anything was delivered.
	UsageError UsageStatus = "error"
	// UsageIncomplete is a stream that was cut after it began (upstream
	// failure or timeout); the client got part of the answer.
	UsageIncomplete UsageStatus = "incomplete"
	// UsageCanceled is a request whose client went away.
	UsageCanceled UsageStatus = "canceled"
)

// UsageRecord is one completion as accounted (SPEC.md section 6). Model is
// the name the client asked for; ServedModel is the configured model that
// answered (it differs after a fallback) and Provider its provider.
type UsageRecord struct {
	// ID identifies the record for idempotent inserts: a store keeps at
	// most one record per non-empty ID (a replay after a crash or an
	// outage counts once). The usage writer assigns it.
	ID        string
	CreatedAt time.Time
	RequestID string
	// UserID is the owner of the request's data scope (Principal.Owner):
	// a user id, "static:<name>" or "local".
	UserID    string
	KeyID     string // "" unless the request used an API key
	EndUserID string // "" unless an app credential named an end user

	Model       string
	ServedModel string
	Provider    string

	PromptTokens     int64
	CompletionTokens int64
	Latency          time.Duration // from request start to the last byte
	TTFT             time.Duration // from request start to the first chunk; 0 if none

	// Cost is what the tokens cost at the served model's prices.
	Cost Micros

	Status     UsageStatus
	HTTPStatus int    // the status the client received
	ErrorCode  string // SPEC error code when Status is not ok, else ""

	// Settlement, when set, is the request's budget reservation: the
	// store settles it with this record's tokens and cost when it inserts
	// the record (SettlingUsageStore).
	Settlement *BudgetSettlement
}

// UsageGroupBy names the column a usage summary is grouped by.
type UsageGroupBy string

// The usage groupings of GET /api/usage and /api/admin/usage.
const (
	UsageByModel UsageGroupBy = "model"
	UsageByKey   UsageGroupBy = "key"
	UsageByDay   UsageGroupBy = "day" // UTC, formatted 2006-01-02
	UsageByUser  UsageGroupBy = "user"
	// UsageByStatus groups by outcome: ok, error, incomplete, canceled.
	UsageByStatus UsageGroupBy = "status"
	// UsageByServedModel groups by the model that answered (differs from
	// model after a fallback).
	UsageByServedModel UsageGroupBy = "served_model"
)

// ParseUsageGroupBy parses a group_by value; ok is false for anything else.
func ParseUsageGroupBy(s string) (UsageGroupBy, bool) {
	switch g := UsageGroupBy(s); g {
	case UsageByModel, UsageByKey, UsageByDay, UsageByUser, UsageByStatus, UsageByServedModel:
		return g, true
	}
	return "", false
}

// UsageQuery selects usage rows with CreatedAt in [From, To). Empty filter
// fields do not filter; the handler sets them from the caller's scope
// (SPEC.md section 6): a user's own usage sets UserID; an API key sets
// KeyID; an app credential also sets EndUserID unless it reads tenant-wide.
type UsageQuery struct {
	From, To  time.Time
	GroupBy   UsageGroupBy
	UserID    string
	KeyID     string
	EndUserID string
}

// UsageGroup is one row of a usage summary.
type UsageGroup struct {
	Group string `json:"group"`
	// Name is the key's name when grouping by key ("" for requests made
	// without a key).
	Name             string `json:"name,omitempty"`
	Requests         int64  `json:"requests"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	// Cost sums the records' costs (a decimal string in JSON).
	Cost Micros `json:"cost"`
	// Statuses splits Requests by outcome.
	Statuses UsageStatuses `json:"statuses"`
}

// UsageStatuses counts requests by outcome (UsageStatus).
type UsageStatuses struct {
	OK         int64 `json:"ok"`
	Error      int64 `json:"error"`
	Incomplete int64 `json:"incomplete"`
	Canceled   int64 `json:"canceled"`
}

// UsageStore keeps usage records.
type UsageStore interface {
	// InsertUsage stores records in one batch.
	InsertUsage(ctx context.Context, records []UsageRecord) error
	// UsageSummary aggregates the rows selected by q, ordered by group.
	UsageSummary(ctx context.Context, q UsageQuery) ([]UsageGroup, error)
}

// UsagePruner deletes old raw usage records (usage.raw_retention); the
// daily sums stay, so summaries of whole days do not change. The hourly
// sums are kept for the last days only; summaries do not change either
// when they go (older partial days are read from raw records).
type UsagePruner interface {
	// PruneUsage deletes the records created before before and returns
	// how many.
	PruneUsage(ctx context.Context, before time.Time) (int64, error)
	// PruneUsageHourly stops summaries reading the hourly sums of the
	// hours before before, deletes them by the next call at the latest,
	// and returns how many rows it deleted.
	PruneUsageHourly(ctx context.Context, before time.Time) (int64, error)
}
