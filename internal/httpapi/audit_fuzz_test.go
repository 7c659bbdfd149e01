package httpapi

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// FuzzAuditFilter: whatever the query of the audit routes, auditFilter
// never panics and refuses only with 400 invalid_field naming a query
// parameter; what it accepts is within bounds.
func FuzzAuditFilter(f *testing.F) {
	for _, q := range []string{"", "action=key.created&limit=5", "outcome=failure&from=2026-01-01T00:00:00Z", "cursor=17",
		"cursor=-1", "limit=0", "to=garbage", "outcome=%00", "from=2026-01-01T00:00:00.123456789%2B02:00"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := url.ParseQuery(raw); err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/api/admin/audit", RawQuery: raw}}
		flt, err := auditFilter(r)
		if err != nil {
			ge, ok := gateway.AsError(err)
			if !ok || ge.Kind != gateway.KindInvalid || ge.Code != "invalid_field" || len(ge.Param) < 7 || ge.Param[:6] != "query." {
				t.Fatalf("auditFilter(%q) err = %v", raw, err)
			}
			return
		}
		if flt.Limit < 1 || flt.Limit > 200 || flt.BeforeSeq < 0 ||
			(flt.Outcome != "" && flt.Outcome != "success" && flt.Outcome != "failure") {
			t.Fatalf("auditFilter(%q) = %+v", raw, flt)
		}
	})
}
