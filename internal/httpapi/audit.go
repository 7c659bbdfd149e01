package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// AuditLog reads the audit log (SPEC 8.1); *sqlstore.Store is one.
type AuditLog interface {
	ListAudit(ctx context.Context, f gateway.AuditFilter) ([]gateway.AuditRecord, error)
}

// AuditList is a page of audit records, newest first.
type AuditList struct {
	Data       []gateway.AuditRecord `json:"data"`
	NextCursor *string               `json:"next_cursor"`
}

// requestMeta puts what the audit log records of a request into its
// context (client address, user agent, request id).
func (s *Server) requestMeta(r *http.Request) *http.Request {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return r.WithContext(gateway.WithRequestMeta(r.Context(), gateway.RequestMeta{
		IP: s.denials.clientIP(r), UserAgent: ua, RequestID: RequestID(r.Context())}))
}

// auditDenied records access.denied for a 403 on an admin route (a route
// that needs the admin role or lives under /api/admin/).
func (s *Server) auditDenied(r *http.Request, rt *Route, p *gateway.Principal, err error) {
	if s.opt.Audit == nil || (rt.Access.MinRole != gateway.RoleAdmin && !strings.HasPrefix(rt.Path, "/api/admin/")) {
		return
	}
	ge, ok := gateway.AsError(err)
	if !ok || ge.Kind != gateway.KindPermission {
		return
	}
	ctx := r.Context()
	if p != nil && gateway.PrincipalFrom(ctx) == nil {
		ctx = gateway.WithPrincipal(ctx, p)
	}
	s.opt.Audit.Record(ctx, gateway.AuditEvent{Action: gateway.AuditAccessDenied, Outcome: gateway.AuditOutcomeFailure,
		Target: &gateway.AuditRef{Type: "route", ID: rt.Pattern()}, Details: map[string]any{"code": ge.Code}})
}

func (s *Server) auditRoutes() {
	log := s.opt.AuditLog
	if log == nil {
		return
	}
	tags := []string{"audit"}
	params := []Param{
		{Name: "action", In: "query", Description: "only this action, e.g. key.created"},
		{Name: "actor_id", In: "query", Description: "only records of this actor id"},
		{Name: "target_id", In: "query", Description: "only records about this target id"},
		{Name: "outcome", In: "query", Description: "success or failure"},
		{Name: "from", In: "query", Description: "RFC 3339 time, inclusive"},
		{Name: "to", In: "query", Description: "RFC 3339 time, exclusive"},
		{Name: "limit", In: "query", Description: "1-200, default 50"},
		{Name: "cursor", In: "query", Description: "next_cursor of the previous page"},
	}
	s.Handle(Route{Method: "GET", Path: "/api/admin/audit", Access: Requires(gateway.RoleAdmin),
		OperationID: "listAudit", Summary: "The audit log, newest first, filtered", Tags: tags, Response: AuditList{}, Params: params,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			return listAudit(w, r, log, f)
		}})
	s.Handle(Route{Method: "GET", Path: "/api/audit", Access: Requires(gateway.RoleViewer), Binding: UserBound,
		OperationID: "listOwnAudit", Summary: "The caller's own audit records (its logins, sessions, keys), newest first",
		Tags: tags, Response: AuditList{}, Params: params,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := auditFilter(r)
			if err != nil {
				return err
			}
			p := gateway.PrincipalFrom(r.Context())
			f.Subject = []string{p.UserID}
			if p.KeyID != "" {
				f.Subject = append(f.Subject, p.KeyID)
			}
			return listAudit(w, r, log, f)
		}})
}

func listAudit(w http.ResponseWriter, r *http.Request, log AuditLog, f gateway.AuditFilter) error {
	limit := f.Limit
	f.Limit++
	recs, err := log.ListAudit(r.Context(), f)
	if err != nil {
		return gateway.Internal("list audit", err)
	}
	out := AuditList{Data: recs}
	if out.Data == nil {
		out.Data = []gateway.AuditRecord{}
	}
	if len(recs) > limit {
		out.Data = recs[:limit]
		next := strconv.FormatInt(recs[limit-1].Seq, 10)
		out.NextCursor = &next
	}
	return WriteJSON(w, http.StatusOK, out)
}

// auditFilter reads the query of the audit routes: 400 invalid_field
// naming the parameter for a bad outcome, time, limit or cursor.
func auditFilter(r *http.Request) (gateway.AuditFilter, error) {
	q := r.URL.Query()
	f := gateway.AuditFilter{Action: q.Get("action"), ActorID: q.Get("actor_id"), TargetID: q.Get("target_id"), Outcome: q.Get("outcome")}
	if f.Outcome != "" && f.Outcome != gateway.AuditOutcomeSuccess && f.Outcome != gateway.AuditOutcomeFailure {
		return f, gateway.Invalid("invalid_field", "query.outcome", "outcome must be success or failure")
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, gateway.Invalid("invalid_field", "query."+t.name, t.name+" must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			*t.dst = tm
		}
	}
	var err error
	if f.Limit, err = queryLimit(r, 50, 200); err != nil {
		return f, err
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, gateway.Invalid("invalid_field", "query.cursor", "cursor is not a next_cursor of this list")
		}
		f.BeforeSeq = n
	}
	return f, nil
}

// audited runs a change the handler makes on a store directly (the
// rate-limit routes) in one transaction with its audit record.
func (s *Server) audited(r *http.Request, change func(ctx context.Context) (gateway.AuditEvent, error)) error {
	var a gateway.Auditor = gateway.NopAuditor{}
	if s.opt.Audit != nil {
		a = s.opt.Audit
	}
	return a.Change(r.Context(), func(ctx context.Context) ([]gateway.AuditEvent, error) {
		ev, err := change(ctx)
		if err != nil {
			return nil, err
		}
		return []gateway.AuditEvent{ev}, nil
	})
}

func policyEvent(op string, p *gateway.RateLimitPolicy) gateway.AuditEvent {
	return gateway.AuditEvent{Action: gateway.AuditRateLimitPolicy, Target: &gateway.AuditRef{Type: "rate_limit_policy", ID: p.ID},
		Details: map[string]any{"op": op, "name": p.Name, "requests_per_minute": p.RequestsPerMinute, "burst": p.Burst, "tokens_per_minute": p.TokensPerMinute}}
}
