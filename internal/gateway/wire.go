package gateway

import (
	"errors"
	"net/http"
	"strconv"
)

// kindWire is the one Kind → (status, type) table of SPEC.md section 1.
// Nothing else in Tollgate maps a Kind to HTTP.
var kindWire = [...]struct {
	status int
	typ    string
}{
	KindInternal:         {http.StatusInternalServerError, "server_error"},
	KindInvalid:          {http.StatusBadRequest, "invalid_request_error"},
	KindUnauthenticated:  {http.StatusUnauthorized, "authentication_error"},
	KindPermission:       {http.StatusForbidden, "permission_error"},
	KindNotFound:         {http.StatusNotFound, "not_found_error"},
	KindMethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
	KindConflict:         {http.StatusConflict, "conflict_error"},
	KindTooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	KindUnsupportedMedia: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	KindRateLimited:      {http.StatusTooManyRequests, "rate_limit_error"},
	KindUpstream:         {http.StatusBadGateway, "upstream_error"},
	KindUnavailable:      {http.StatusServiceUnavailable, "unavailable_error"},
	KindUpstreamTimeout:  {http.StatusGatewayTimeout, "upstream_error"},
}

// ErrorBody is the envelope of every error, as a response body and as the
// data of an SSE error frame (SPEC.md section 1).
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

// Wire is an error in the form it takes on the wire: the status, the
// envelope and the headers its kind needs. The classified error is kept
// for logging its cause.
type Wire struct {
	Status int
	Body   ErrorBody
	// Cause is err as a *Error (an unclassified error becomes Internal).
	Cause *Error
}

// ToWire classifies err once for every renderer (JSON answers, SSE error
// frames, usage records, logs): status and type from the Kind (or the
// upstream's own status), code, message and param from the Error. An error
// that is not a *Error becomes 500 internal_error, and an Internal error
// never shows its message. An error that wraps ErrUnavailable (the
// database is down or too slow) becomes 503 not_ready with Retry-After
// unless it is already classified otherwise.
func ToWire(err error) Wire {
	ge, ok := AsError(err)
	if !ok {
		ge = Internal("unclassified", err)
	}
	// A database outage reaches here as whatever the caller wrapped it in
	// (mostly Internal); it is one 503 on every route.
	if ge.Kind == KindInternal && errors.Is(err, ErrUnavailable) {
		ge = UnavailableError(err)
	}
	info := kindWire[KindInternal]
	if int(ge.Kind) < len(kindWire) {
		info = kindWire[ge.Kind]
	}
	w := Wire{Status: info.status, Cause: ge,
		Body: ErrorBody{Error: ErrorDetail{Type: info.typ, Code: ge.Code, Message: ge.Message}}}
	if ge.Status != 0 {
		w.Status = ge.Status
	}
	if ge.Param != "" {
		p := ge.Param
		w.Body.Error.Param = &p
	}
	if ge.Kind == KindInternal {
		w.Body.Error.Code, w.Body.Error.Message = "internal_error", "internal error"
	}
	return w
}

// SetHeaders sets the headers the error's answer carries:
// WWW-Authenticate on 401s (SPEC 1), and Retry-After with Cache-Control:
// no-store on every 429, Tollgate's own or an upstream's passed through
// (at least 1 second for Tollgate's own limits).
func (w Wire) SetHeaders(h http.Header) {
	ge := w.Cause
	switch {
	case ge.Kind == KindUnauthenticated && ge.Code == "missing_authorization":
		h.Set("WWW-Authenticate", `Bearer realm="tollgate"`)
	case ge.Kind == KindUnauthenticated:
		h.Set("WWW-Authenticate", `Bearer realm="tollgate", error="invalid_token"`)
	}
	// RetryAfter < 0 means "no Retry-After" (a budget of period total
	// never resets).
	ra := ge.RetryAfter
	if ge.Kind == KindRateLimited && ra == 0 {
		ra = 1
	}
	if ra > 0 {
		h.Set("Retry-After", strconv.Itoa(ra))
	}
	if w.Status == http.StatusTooManyRequests {
		h.Set("Cache-Control", "no-store")
	}
}
