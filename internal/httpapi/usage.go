package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// UsageResponse is the body of GET /api/usage and /api/admin/usage.
type UsageResponse struct {
	Data []gateway.UsageGroup `json:"data"`
	// NextCursor continues a group_by=key or user listing (null at its
	// end, and always for the other groupings, which are not paginated).
	NextCursor *string `json:"next_cursor"`
}

var usageParams = []Param{
	{Name: "from", In: "query", Description: "RFC 3339 start (inclusive); default 30 days ago"},
	{Name: "to", In: "query", Description: "RFC 3339 end (exclusive); default now"},
	{Name: "group_by", In: "query", Description: "model (default), key (with the key's name), day, status, served_model; admin also user"},
	{Name: "limit", In: "query", Description: "group_by=key or user: groups per page, 1-200 (default 50)"},
	{Name: "cursor", In: "query", Description: "group_by=key or user: next_cursor of the previous page"},
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
	paged := q.GroupBy == gateway.UsageByKey || q.GroupBy == gateway.UsageByUser
	limit, after := 0, (*string)(nil)
	if paged {
		var err error
		if limit, err = parseLimit(r); err != nil {
			return err
		}
		if v := r.URL.Query().Get("cursor"); v != "" {
			g, err := decodeUsageCursor(v)
			if err != nil {
				return err
			}
			after = &g
		}
	}
	rows, err := s.opt.Usage.UsageSummary(r.Context(), q)
	if err != nil {
		return gateway.Internal("usage summary", err)
	}
	out := UsageResponse{Data: rows}
	if out.Data == nil {
		out.Data = []gateway.UsageGroup{}
	}
	if paged {
		// Groups come ordered by group (byte order): the page starts after
		// the cursor's group.
		if after != nil {
			i, _ := slices.BinarySearchFunc(out.Data, *after, func(g gateway.UsageGroup, t string) int { return strings.Compare(g.Group, t) })
			for i < len(out.Data) && out.Data[i].Group <= *after {
				i++
			}
			out.Data = out.Data[i:]
		}
		if len(out.Data) > limit {
			out.Data = out.Data[:limit]
			next := encodeUsageCursor(out.Data[limit-1].Group)
			out.NextCursor = &next
		}
	}
	return WriteJSON(w, http.StatusOK, out)
}

// A usage cursor is the last group of a page (base64url of JSON, so the
// empty group of requests without a key has one too).
type usageCursor struct {
	G *string `json:"g"`
}

func encodeUsageCursor(group string) string {
	return encodeListCursor(usageCursor{G: &group})
}

func decodeUsageCursor(s string) (string, error) {
	var c usageCursor
	if decodeListCursor(s, &c) != nil || c.G == nil {
		return "", errBadCursor
	}
	return *c.G, nil
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
