package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// ErrorStyle is the error body shape of a route.
type ErrorStyle uint8

// The error styles.
const (
	// ErrorsSPEC is SPEC.md's envelope (OpenAI's shape): every route but
	// Anthropic's.
	ErrorsSPEC ErrorStyle = iota
	// ErrorsAnthropic is Anthropic's {"type":"error","error":{"type",
	// "message"}} with the same status; the message starts with
	// Tollgate's code ("quota_exceeded: ...").
	ErrorsAnthropic
)

// AnthropicError is the error body of /v1/messages (Anthropic's shape).
type AnthropicError struct {
	Type  string               `json:"type" enum:"error"`
	Error AnthropicErrorDetail `json:"error"`
}

// AnthropicErrorDetail is the inside of AnthropicError.
type AnthropicErrorDetail struct {
	Type    string `json:"type" enum:"invalid_request_error,authentication_error,permission_error,not_found_error,request_too_large,rate_limit_error,api_error,overloaded_error"`
	Message string `json:"message"`
}

// anthropicTypes are Anthropic's error types by status; other 4xx are
// invalid_request_error, other 5xx api_error.
var anthropicTypes = map[int]string{
	http.StatusBadRequest:            "invalid_request_error",
	http.StatusUnauthorized:          "authentication_error",
	http.StatusForbidden:             "permission_error",
	http.StatusNotFound:              "not_found_error",
	http.StatusRequestEntityTooLarge: "request_too_large",
	http.StatusTooManyRequests:       "rate_limit_error",
}

// anthropicError renders err in Anthropic's shape: Anthropic's error type
// for the status (an upstream's own 4xx included; 5xx are api_error, 503
// overloaded is overloaded_error), and "<code>: <message>" (plus the
// param) as the message.
func anthropicError(wire gateway.Wire) AnthropicError {
	d := wire.Body.Error
	typ, ok := anthropicTypes[wire.Status]
	switch {
	case d.Code == "overloaded":
		typ = "overloaded_error"
	case !ok && wire.Status >= 500:
		typ = "api_error"
	case !ok:
		typ = "invalid_request_error"
	}
	msg := d.Code + ": " + d.Message
	if d.Param != nil {
		msg += " (" + *d.Param + ")"
	}
	return AnthropicError{Type: "error", Error: AnthropicErrorDetail{Type: typ, Message: msg}}
}

// writeStyledError is WriteError in style's shape (same status, headers
// and logging).
func writeStyledError(w http.ResponseWriter, r *http.Request, log *slog.Logger, style ErrorStyle, err error) {
	if style != ErrorsAnthropic {
		WriteError(w, r, log, err)
		return
	}
	wire := gateway.ToWire(err)
	wire.SetHeaders(w.Header())
	logServerError(r, log, wire)
	writeJSONStatus(w, wire.Status, anthropicError(wire))
}

// AppendAnthropicErrorEvent appends err as Anthropic's stream error
// event: `event: error` with the AnthropicError body.
func AppendAnthropicErrorEvent(dst []byte, err error) []byte {
	data, _ := json.Marshal(anthropicError(gateway.ToWire(err)))
	return llm.AppendEvent(dst, "error", string(data))
}

// responsesErrorEvent is the Responses API's stream error event:
// OpenAI's {"type":"error","code","message","param","sequence_number"},
// plus the SPEC envelope under "error" (which OpenAI's SDKs raise as the
// stream's error).
type responsesErrorEvent struct {
	Type           string              `json:"type"`
	Code           string              `json:"code"`
	Message        string              `json:"message"`
	Param          *string             `json:"param"`
	SequenceNumber int                 `json:"sequence_number"`
	Error          gateway.ErrorDetail `json:"error"`
}

// AppendResponsesErrorEvent appends err as the Responses API's `event:
// error` frame; seq is the stream's next sequence number.
func AppendResponsesErrorEvent(dst []byte, seq int, err error) []byte {
	d := gateway.ToWire(err).Body.Error
	data, _ := json.Marshal(responsesErrorEvent{Type: "error", Code: d.Code, Message: d.Message, Param: d.Param,
		SequenceNumber: seq, Error: d})
	return llm.AppendEvent(dst, "error", string(data))
}
