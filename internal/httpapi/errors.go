package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/internal/gateway"
)

// kindInfo is the one Kind → (status, type) table of SPEC.md section 1.
var kindInfo = [...]struct {
	status int
	typ    string
}{
	gateway.KindInternal:         {http.StatusInternalServerError, "server_error"},
	gateway.KindInvalid:          {http.StatusBadRequest, "invalid_request_error"},
	gateway.KindUnauthenticated:  {http.StatusUnauthorized, "authentication_error"},
	gateway.KindPermission:       {http.StatusForbidden, "permission_error"},
	gateway.KindNotFound:         {http.StatusNotFound, "not_found_error"},
	gateway.KindMethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
	gateway.KindConflict:         {http.StatusConflict, "conflict_error"},
	gateway.KindTooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	gateway.KindUnsupportedMedia: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	gateway.KindRateLimited:      {http.StatusTooManyRequests, "rate_limit_error"},
	gateway.KindUpstream:         {http.StatusBadGateway, "upstream_error"},
	gateway.KindUnavailable:      {http.StatusServiceUnavailable, "unavailable_error"},
	gateway.KindUpstreamTimeout:  {http.StatusGatewayTimeout, "upstream_error"},
}

// ErrorBody is the envelope of every error response (SPEC.md section 1).
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of the error envelope.
type ErrorDetail struct {
	Type    string  `json:"type" enum:"invalid_request_error,authentication_error,permission_error,not_found_error,conflict_error,rate_limit_error,server_error,upstream_error,unavailable_error"`
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// Envelope classifies err and returns its status and body. Errors that are
// not *gateway.Error become 500 internal_error.
func Envelope(err error) (int, ErrorBody, *gateway.Error) {
	ge, ok := gateway.AsError(err)
	if !ok {
		ge = gateway.Internal("unclassified", err)
	}
	info := kindInfo[gateway.KindInternal]
	if int(ge.Kind) < len(kindInfo) {
		info = kindInfo[ge.Kind]
	}
	status := info.status
	if ge.Status != 0 {
		status = ge.Status
	}
	body := ErrorBody{Error: ErrorDetail{Type: info.typ, Code: ge.Code, Message: ge.Message}}
	if ge.Param != "" {
		p := ge.Param
		body.Error.Param = &p
	}
	if ge.Kind == gateway.KindInternal {
		body.Error.Code, body.Error.Message = "internal_error", "internal error"
	}
	return status, body, ge
}

// WriteError renders err as the SPEC envelope, sets the headers its kind
// needs (WWW-Authenticate, Retry-After), and logs the cause of 5xx errors.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, body, ge := Envelope(err)
	h := w.Header()
	switch ge.Kind {
	case gateway.KindUnauthenticated:
		if ge.Code == "missing_authorization" {
			h.Set("WWW-Authenticate", `Bearer realm="tollgate"`)
		} else {
			h.Set("WWW-Authenticate", `Bearer realm="tollgate", error="invalid_token"`)
		}
	case gateway.KindRateLimited:
		h.Set("Retry-After", strconv.Itoa(max(ge.RetryAfter, 1)))
		h.Set("Cache-Control", "no-store")
	default:
		if ge.RetryAfter > 0 { // 503 overloaded
			h.Set("Retry-After", strconv.Itoa(ge.RetryAfter))
		}
	}
	if status >= 500 && log != nil {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern,
			"status", status, "code", body.Error.Code, "err", ge.Error())
	}
	writeJSONStatus(w, status, body)
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
