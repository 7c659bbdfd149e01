package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestToWire(t *testing.T) {
	for _, tc := range []struct {
		name           string
		err            error
		status         int
		typ, code, msg string
		param          string
		headers        map[string]string
	}{
		{"Internal", Internal("op", errors.New("db down")), 500, "server_error", "internal_error", "internal error", "", nil},
		{"Unclassified", errors.New("boom"), 500, "server_error", "internal_error", "internal error", "", nil},
		{"Invalid", Invalid("invalid_field", "body.x", "x is bad"), 400, "invalid_request_error", "invalid_field", "x is bad", "body.x", nil},
		{"Missing", E(KindUnauthenticated, "missing_authorization", "m"), 401, "authentication_error", "missing_authorization", "m", "",
			map[string]string{"WWW-Authenticate": `Bearer realm="tollgate"`}},
		{"Rejected", E(KindUnauthenticated, "invalid_authorization", "m"), 401, "authentication_error", "invalid_authorization", "m", "",
			map[string]string{"WWW-Authenticate": `Bearer realm="tollgate", error="invalid_token"`}},
		{"Permission", E(KindPermission, "insufficient_role", "m"), 403, "permission_error", "insufficient_role", "m", "", nil},
		{"NotFound", NotFound("not_found", "m"), 404, "not_found_error", "not_found", "m", "", nil},
		{"Method", E(KindMethodNotAllowed, "method_not_allowed", "m"), 405, "invalid_request_error", "method_not_allowed", "m", "", nil},
		{"Conflict", E(KindConflict, "email_taken", "m"), 409, "conflict_error", "email_taken", "m", "", nil},
		{"TooLarge", E(KindTooLarge, "body_too_large", "m"), 413, "invalid_request_error", "body_too_large", "m", "", nil},
		{"Media", E(KindUnsupportedMedia, "unsupported_media_type", "m"), 415, "invalid_request_error", "unsupported_media_type", "m", "", nil},
		{"OwnLimitNoWait", E(KindRateLimited, "rate_limit_exceeded", "m"), 429, "rate_limit_error", "rate_limit_exceeded", "m", "",
			map[string]string{"Retry-After": "1", "Cache-Control": "no-store"}},
		{"OwnLimit", &Error{Kind: KindRateLimited, Code: "quota_exceeded", Message: "m", RetryAfter: 30}, 429, "rate_limit_error", "quota_exceeded", "m", "",
			map[string]string{"Retry-After": "30", "Cache-Control": "no-store"}},
		{"Upstream429", &Error{Kind: KindUpstream, Code: "upstream_error", Message: "slow down", Status: 429, RetryAfter: 7}, 429, "upstream_error", "upstream_error", "slow down", "",
			map[string]string{"Retry-After": "7", "Cache-Control": "no-store"}},
		{"Upstream422", &Error{Kind: KindUpstream, Code: "upstream_error", Message: "bad", Status: 422}, 422, "upstream_error", "upstream_error", "bad", "", nil},
		{"Upstream", E(KindUpstream, "upstream_error", "m"), 502, "upstream_error", "upstream_error", "m", "", nil},
		{"Overloaded", &Error{Kind: KindUnavailable, Code: "overloaded", Message: "m", RetryAfter: 1}, 503, "unavailable_error", "overloaded", "m", "",
			map[string]string{"Retry-After": "1"}},
		{"DatabaseDown", Internal("list keys", fmt.Errorf("query: %w", ErrUnavailable)), 503, "unavailable_error", "not_ready",
			"The database is unavailable; retry shortly.", "", map[string]string{"Retry-After": "2"}},
		{"DatabaseDownUnclassified", fmt.Errorf("query: %w", ErrUnavailable), 503, "unavailable_error", "not_ready",
			"The database is unavailable; retry shortly.", "", map[string]string{"Retry-After": "2"}},
		{"DatabaseDownButClassified", fmt.Errorf("x: %w", errors.Join(ErrUnavailable, NotFound("not_found", "m"))), 404, "not_found_error", "not_found", "m", "", nil},
		{"Timeout", E(KindUpstreamTimeout, "upstream_timeout", "m"), 504, "upstream_error", "upstream_timeout", "m", "", nil},
		{"Wrapped", errors.Join(errors.New("ctx"), NotFound("conversation_not_found", "m")), 404, "not_found_error", "conversation_not_found", "m", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := ToWire(tc.err)
			d := w.Body.Error
			if w.Status != tc.status || d.Type != tc.typ || d.Code != tc.code || d.Message != tc.msg {
				t.Fatalf("ToWire = %d %s/%s %q, want %d %s/%s %q", w.Status, d.Type, d.Code, d.Message, tc.status, tc.typ, tc.code, tc.msg)
			}
			switch {
			case tc.param == "" && d.Param != nil:
				t.Fatalf("param = %q, want null", *d.Param)
			case tc.param != "" && (d.Param == nil || *d.Param != tc.param):
				t.Fatalf("param = %v, want %q", d.Param, tc.param)
			}
			h := http.Header{}
			w.SetHeaders(h)
			if len(h) != len(tc.headers) {
				t.Fatalf("headers = %v, want %v", h, tc.headers)
			}
			for k, v := range tc.headers {
				if got := h.Get(k); got != v {
					t.Fatalf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestEveryKindHasAWireForm keeps the table complete: a new Kind without
// a row would render as a 500.
func TestEveryKindHasAWireForm(t *testing.T) {
	for k := KindInternal; k <= KindUpstreamTimeout; k++ {
		if int(k) >= len(kindWire) || kindWire[k].status == 0 || kindWire[k].typ == "" {
			t.Fatalf("Kind %d has no wire form", k)
		}
	}
}
