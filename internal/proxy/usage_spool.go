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
}

func encodeUsage(r gateway.UsageRecord) []byte {
	b, _ := json.Marshal(spoolRecord{
		ID: r.ID, CreatedAt: r.CreatedAt.UnixMicro(), RequestID: r.RequestID, UserID: r.UserID, KeyID: r.KeyID,
		EndUserID: r.EndUserID, Model: r.Model, ServedModel: r.ServedModel, Provider: r.Provider,
		PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		LatencyUS: r.Latency.Microseconds(), TTFTUS: r.TTFT.Microseconds(), Cost: int64(r.Cost),
		Status: string(r.Status), HTTPStatus: r.HTTPStatus, ErrorCode: r.ErrorCode,
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
	return gateway.UsageRecord{
		ID: s.ID, CreatedAt: time.UnixMicro(s.CreatedAt).UTC(), RequestID: s.RequestID, UserID: s.UserID, KeyID: s.KeyID,
		EndUserID: s.EndUserID, Model: s.Model, ServedModel: s.ServedModel, Provider: s.Provider,
		PromptTokens: s.PromptTokens, CompletionTokens: s.CompletionTokens,
		Latency: time.Duration(s.LatencyUS) * time.Microsecond, TTFT: time.Duration(s.TTFTUS) * time.Microsecond,
		Cost: gateway.Micros(s.Cost), Status: gateway.UsageStatus(s.Status), HTTPStatus: s.HTTPStatus, ErrorCode: s.ErrorCode,
	}, nil
}
