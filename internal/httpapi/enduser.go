package httpapi

import (
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
)

// endUserRules enforces SPEC 2.6 for the end-user header.
type endUserRules struct {
	header string // canonical header name
	param  string // "headers.x-end-user-id"
}

func newEndUserRules(header string) endUserRules {
	return endUserRules{header: http.CanonicalHeaderKey(header), param: "headers." + strings.ToLower(header)}
}

// validEndUserID accepts 1–128 characters of [A-Za-z0-9._@:-].
func validEndUserID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// apply validates the end-user header against the principal and sets
// p.EndUserID. On user-scoped routes an app credential must name the end
// user, except an admin app credential reading (GET) tenant-wide.
func (e endUserRules) apply(r *http.Request, p *gateway.Principal, userScoped bool) error {
	vals, present := r.Header[e.header]
	if present {
		if !p.EndUserMode {
			return gateway.Invalid("invalid_field", e.param, "only app credentials (end_user_mode) may send "+e.header)
		}
		if len(vals) != 1 || !validEndUserID(vals[0]) {
			return gateway.Invalid("invalid_field", e.param, e.header+" must be 1-128 characters of A-Z a-z 0-9 . _ @ : -")
		}
		p.EndUserID = vals[0]
	}
	if !p.EndUserMode || !userScoped {
		return nil
	}
	if r.URL.RawQuery != "" && r.URL.Query().Has("user_id") {
		return gateway.Invalid("invalid_field", "query.user_id", "app credentials name the end user only in "+e.header)
	}
	if p.EndUserID == "" && !(r.Method == http.MethodGet && p.Role.AtLeast(gateway.RoleAdmin)) {
		return gateway.Invalid("missing_field", e.param, e.header+" is required for app credentials")
	}
	return nil
}
