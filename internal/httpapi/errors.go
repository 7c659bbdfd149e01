package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// ErrorBody is the envelope of every error response (SPEC.md section 1).
type ErrorBody = gateway.ErrorBody

// ErrorDetail is the inside of the error envelope.
type ErrorDetail = gateway.ErrorDetail

// WriteError renders err as the SPEC envelope with the headers its kind
// needs (gateway.ToWire is the one classification), and logs the cause of
// 5xx errors.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	wire := gateway.ToWire(err)
	wire.SetHeaders(w.Header())
	logServerError(r, log, wire)
	writeJSONStatus(w, wire.Status, wire.Body)
}

// AppendErrorEvent appends err as an SSE frame whose data is the SPEC
// envelope: `event: <event>` when event is not empty (the conversation
// streams' "error"), a bare data frame otherwise (/v1's OpenAI-style
// streams).
func AppendErrorEvent(dst []byte, event string, err error) []byte {
	data, _ := json.Marshal(gateway.ToWire(err).Body)
	return llm.AppendEvent(dst, event, string(data))
}

func logServerError(r *http.Request, log *slog.Logger, wire gateway.Wire) {
	if wire.Status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern,
			"status", wire.Status, "code", wire.Body.Error.Code, "err", wire.Cause.Error())
	}
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
