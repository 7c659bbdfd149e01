package proxy

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// spoolRecord is a usage record as the spool stores it (JSON). Its field
// names are part of the on-disk format: a new process replays segments an
// older one wrote, so fields are only ever added.
type spoolRecord struct {
	ID               string `json:"id"`
	CreatedAt        int64  `json:"at"` // Unix microseconds
	RequestID        string `json:"req,omitempty"`
	UserID           string `json:"user,omitempty"`
	KeyID            string `json:"key,omitempty"`
	EndUserID        string `json:"end_user,omitempty"`
	Model            string `json:"model"`
	ServedModel      string `json:"served,omitempty"`
	Provider         string `json:"provider,omitempty"`
	PromptTokens     int64  `json:"pt,omitempty"`
	CompletionTokens int64  `json:"ct,omitempty"`
	LatencyUS        int64  `json:"lat,omitempty"`
	TTFTUS           int64  `json:"ttft,omitempty"`
	Cost             int64  `json:"cost,omitempty"`
	Status           string `json:"status"`
	HTTPStatus       int    `json:"http,omitempty"`
	ErrorCode        string `json:"code,omitempty"`
	// Settle is the record's budget settlement (gateway.BudgetSettlement).
	Settle *spoolSettlement `json:"settle,omitempty"`
}

// spoolSettlement is a gateway.BudgetSettlement as the spool stores it.
type spoolSettlement struct {
	ID       string          `json:"id"`
	Shared   bool            `json:"shared,omitempty"`
	Reserved []spoolReserved `json:"reserved"`
}

// spoolReserved is a gateway.ReservedCharge; Start is Unix seconds.
type spoolReserved struct {
	Budget string `json:"budget"`
	Start  int64  `json:"start"`
	Tokens int64  `json:"t,omitempty"`
	Cost   int64  `json:"c,omitempty"`
}

func encodeSettlement(st *gateway.BudgetSettlement) *spoolSettlement {
	if st == nil {
		return nil
	}
	out := &spoolSettlement{ID: st.ReservationID, Shared: st.Shared, Reserved: make([]spoolReserved, len(st.Reserved))}
	for i, r := range st.Reserved {
		out.Reserved[i] = spoolReserved{Budget: r.BudgetID, Start: r.PeriodStart.Unix(), Tokens: r.Tokens, Cost: int64(r.Cost)}
	}
	return out
}

func decodeSettlement(s *spoolSettlement) (*gateway.BudgetSettlement, error) {
	if s == nil {
		return nil, nil
	}
	if s.ID == "" || len(s.Reserved) == 0 {
		return nil, fmt.Errorf("decode spooled usage record: settlement without id or reservations")
	}
	st := &gateway.BudgetSettlement{ReservationID: s.ID, Shared: s.Shared, Reserved: make([]gateway.ReservedCharge, len(s.Reserved))}
	for i, r := range s.Reserved {
		if r.Budget == "" {
			return nil, fmt.Errorf("decode spooled usage record: settlement without budget")
		}
		st.Reserved[i] = gateway.ReservedCharge{BudgetID: r.Budget, PeriodStart: time.Unix(r.Start, 0).UTC(), Tokens: r.Tokens, Cost: gateway.Micros(r.Cost)}
	}
	return st, nil
}

func encodeUsage(r gateway.UsageRecord) []byte {
	b, _ := json.Marshal(spoolRecord{
		ID: r.ID, CreatedAt: r.CreatedAt.UnixMicro(), RequestID: r.RequestID, UserID: r.UserID, KeyID: r.KeyID,
		EndUserID: r.EndUserID, Model: r.Model, ServedModel: r.ServedModel, Provider: r.Provider,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		LatencyUS: r.Latency.Microseconds(), TTFTUS: r.TTFT.Microseconds(), Cost: int64(r.Cost),
		Status: string(r.Status), HTTPStatus: r.HTTPStatus, ErrorCode: r.ErrorCode,
		Settle: encodeSettlement(r.Settlement),
	})
	return b
}

func decodeUsage(p []byte) (gateway.UsageRecord, error) {
	var s spoolRecord
	if err := json.Unmarshal(p, &s); err != nil {
		return gateway.UsageRecord{}, fmt.Errorf("decode spooled usage record: %w", err)
	}
	if s.ID == "" || s.Model == "" || s.Status == "" {
		return gateway.UsageRecord{}, fmt.Errorf("decode spooled usage record: id, model or status missing")
	}
	settlement, err := decodeSettlement(s.Settle)
	if err != nil {
		return gateway.UsageRecord{}, err
	}
	return gateway.UsageRecord{
		ID: s.ID, CreatedAt: time.UnixMicro(s.CreatedAt).UTC(), RequestID: s.RequestID, UserID: s.UserID, KeyID: s.KeyID,
		EndUserID: s.EndUserID, Model: s.Model, ServedModel: s.ServedModel, Provider: s.Provider,
		PromptTokens: s.PromptTokens, CompletionTokens: s.CompletionTokens,
		Latency: time.Duration(s.LatencyUS) * time.Microsecond, TTFT: time.Duration(s.TTFTUS) * time.Microsecond,
		Cost: gateway.Micros(s.Cost), Status: gateway.UsageStatus(s.Status), HTTPStatus: s.HTTPStatus, ErrorCode: s.ErrorCode,
		Settlement: settlement,
	}, nil
}
