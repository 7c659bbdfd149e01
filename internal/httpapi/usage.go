package httpapi

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// UsageResponse is the body of GET /api/usage and /api/admin/usage.
type UsageResponse struct {
	Data []gateway.UsageGroup `json:"data"`
}

var usageParams = []Param{
	{Name: "from", In: "query", Description: "RFC 3339 start (inclusive); default 30 days ago"},
	{Name: "to", In: "query", Description: "RFC 3339 end (exclusive); default now"},
	{Name: "group_by", In: "query", Description: "model (default), key (with the key's name), day, status, served_model; admin also user"},
}

func (s *Server) usageRoutes() {
	if s.opt.Usage == nil {
		return
	}
	s.Handle(Route{
		Method: "GET", Path: "/api/usage", Access: Requires(gateway.RoleViewer), UserScoped: true,
		OperationID: "getUsage", Tags: []string{"usage"}, Summary: "The caller's own usage",
		Params: usageParams, Response: UsageResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			q, err := parseUsageQuery(r, false)
			if err != nil {
				return err
			}
			scopeUsage(&q, gateway.PrincipalFrom(r.Context()))
			return s.writeUsage(w, r, q)
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/api/admin/usage", Access: Requires(gateway.RoleAdmin),
		OperationID: "getAdminUsage", Tags: []string{"usage", "admin"}, Summary: "Usage of every principal",
		Params: usageParams, Response: UsageResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			q, err := parseUsageQuery(r, true)
			if err != nil {
				return err
			}
			return s.writeUsage(w, r, q)
		},
	})
}

func (s *Server) writeUsage(w http.ResponseWriter, r *http.Request, q gateway.UsageQuery) error {
	rows, err := s.opt.Usage.UsageSummary(r.Context(), q)
	if err != nil {
		return gateway.Internal("usage summary", err)
	}
	if rows == nil {
		rows = []gateway.UsageGroup{}
	}
	return WriteJSON(w, http.StatusOK, UsageResponse{Data: rows})
}

// scopeUsage restricts a usage query to what the principal may see (SPEC
// section 6): an API key sees its own usage (an app credential: that end
// user's, unless tenant-wide); a user sees all of their requests and keys.
func scopeUsage(q *gateway.UsageQuery, p *gateway.Principal) {
	o := p.Owner()
	q.UserID = o.UserID
	if p.KeyID != "" {
		q.KeyID = p.KeyID
	}
	if p.EndUserMode {
		q.EndUserID = o.EndUserID // "" for a tenant-wide view: every end user
	}
}

func parseUsageQuery(r *http.Request, admin bool) (gateway.UsageQuery, error) {
	v := r.URL.Query()
	now := time.Now().UTC()
	q := gateway.UsageQuery{From: now.AddDate(0, 0, -30), To: now.Add(time.Second), GroupBy: gateway.UsageByModel}
	if s := v.Get("from"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, gateway.Invalid("invalid_field", "query.from", "from must be an RFC 3339 time")
		}
		q.From = t
	}
	if s := v.Get("to"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, gateway.Invalid("invalid_field", "query.to", "to must be an RFC 3339 time")
		}
		q.To = t
	}
	if !q.From.Before(q.To) {
		return q, gateway.Invalid("invalid_field", "query.from", "from must be before to")
	}
	if s := v.Get("group_by"); s != "" {
		g, ok := gateway.ParseUsageGroupBy(s)
		if !ok || (g == gateway.UsageByUser && !admin) {
			allowed := "model, key, day, status or served_model"
			if admin {
				allowed = "model, key, day, status, served_model or user"
			}
			return q, gateway.Invalid("invalid_field", "query.group_by", "group_by must be "+allowed)
		}
		q.GroupBy = g
	}
	return q, nil
}
