package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// RequestLimiter decides a request; *ratelimit.Enforcer is one.
type RequestLimiter interface {
	CheckHTTP(r *http.Request) (*ratelimit.Decision, error)
}

// DeferringLimiter is a RequestLimiter that can leave a decision to the
// request's admission; *ratelimit.Enforcer is one.
type DeferringLimiter interface {
	Defer(r *http.Request, header http.Header) *ratelimit.Deferred
}

// deferLimits returns the deferred decision of a request on an Admits
// route whose principal's admission decides its rate limit too, or nil
// (decide now).
func (s *Server) deferLimits(rt *Route, w http.ResponseWriter, r *http.Request, p *gateway.Principal) *ratelimit.Deferred {
	if !rt.Admits || s.opt.DeferLimits == nil || !s.opt.DeferLimits(p) {
		return nil
	}
	dl, ok := s.opt.Limiter.(DeferringLimiter)
	if !ok {
		return nil
	}
	return dl.Defer(r, w.Header())
}

// limit runs the limiter, sets the rate-limit headers on every evaluated
// response, and answers 429 on refusal, returning false. (Token budgets
// are charged after a completion by the proxy's TokenCharger, from the
// principal and the route.)
func (s *Server) limit(w http.ResponseWriter, r *http.Request, style ErrorStyle) bool {
	d, err := s.opt.Limiter.CheckHTTP(r)
	if d != nil {
		ratelimit.SetHeaders(w.Header(), d)
	}
	if err != nil {
		writeStyledError(w, r, s.log, style, err)
		return false
	}
	return true
}

// PolicyBody is the request body of POST and PUT rate-limit policies.
type PolicyBody struct {
	Name              string `json:"name"`
	RequestsPerMinute int    `json:"requests_per_minute"`
	Burst             int    `json:"burst"`
	TokensPerMinute   int    `json:"tokens_per_minute,omitempty"`
}

// AssignmentBody is the request body of POST rate-limit assignments.
type AssignmentBody struct {
	PolicyID    string `json:"policy_id"`
	SubjectType string `json:"subject_type" enum:"key,user,role,route"`
	Subject     string `json:"subject"`
}

// PolicyList is a page of policies.
type PolicyList struct {
	Data       []gateway.RateLimitPolicy `json:"data"`
	NextCursor *string                   `json:"next_cursor"`
}

// AssignmentList is a page of assignments.
type AssignmentList struct {
	Data       []gateway.RateLimitAssignment `json:"data"`
	NextCursor *string                       `json:"next_cursor"`
}

func (s *Server) rateLimitRoutes() {
	st := s.opt.RateLimits
	if st == nil {
		return
	}
	changed := func(r *http.Request) {
		if s.opt.RateLimitsChanged != nil {
			s.opt.RateLimitsChanged(r.Context())
		}
	}
	admin := Requires(gateway.RoleAdmin)
	tags := []string{"rate limits", "admin"}
	const base = "/api/admin/rate-limits"
	s.Handle(Route{Method: "GET", Path: base + "/policies", Access: admin, OperationID: "listRateLimitPolicies", Tags: tags,
		Summary: "List rate-limit policies", Response: PolicyList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			ps, err := st.ListRateLimitPolicies(r.Context())
			if err != nil {
				return gateway.Internal("list policies", err)
			}
			if ps == nil {
				ps = []gateway.RateLimitPolicy{}
			}
			return WriteJSON(w, http.StatusOK, PolicyList{Data: ps})
		}})
	s.Handle(Route{Method: "POST", Path: base + "/policies", Access: admin, OperationID: "createRateLimitPolicy", Tags: tags,
		Summary: "Create a rate-limit policy", Request: PolicyBody{}, Response: gateway.RateLimitPolicy{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in PolicyBody
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			p := gateway.RateLimitPolicy{Name: in.Name, RequestsPerMinute: in.RequestsPerMinute, Burst: in.Burst, TokensPerMinute: in.TokensPerMinute}
			if err := p.Validate(); err != nil {
				return err
			}
			if err := s.audited(r, func(ctx context.Context) (gateway.AuditEvent, error) {
				err := st.CreateRateLimitPolicy(ctx, &p) // fills p.ID
				return policyEvent("create", &p), err
			}); err != nil {
				return storeError("create policy", err, "body.name", "a policy with this name exists")
			}
			changed(r)
			return WriteJSON(w, http.StatusCreated, p)
		}})
	s.Handle(Route{Method: "PUT", Path: base + "/policies/{id}", Access: admin, OperationID: "updateRateLimitPolicy", Tags: tags,
		Summary: "Replace a rate-limit policy", Request: PolicyBody{}, Response: gateway.RateLimitPolicy{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in PolicyBody
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			p := gateway.RateLimitPolicy{ID: r.PathValue("id"), Name: in.Name, RequestsPerMinute: in.RequestsPerMinute, Burst: in.Burst, TokensPerMinute: in.TokensPerMinute}
			if err := p.Validate(); err != nil {
				return err
			}
			if err := s.audited(r, func(ctx context.Context) (gateway.AuditEvent, error) {
				return policyEvent("update", &p), st.UpdateRateLimitPolicy(ctx, &p)
			}); err != nil {
				return storeError("update policy", err, "body.name", "a policy with this name exists")
			}
			changed(r)
			return WriteJSON(w, http.StatusOK, p)
		}})
	s.Handle(Route{Method: "DELETE", Path: base + "/policies/{id}", Access: admin, OperationID: "deleteRateLimitPolicy", Tags: tags,
		Summary: "Delete a policy and its assignments", Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.audited(r, func(ctx context.Context) (gateway.AuditEvent, error) {
				return gateway.AuditEvent{Action: gateway.AuditRateLimitPolicy, Target: &gateway.AuditRef{Type: "rate_limit_policy", ID: r.PathValue("id")},
					Details: map[string]any{"op": "delete"}}, st.DeleteRateLimitPolicy(ctx, r.PathValue("id"))
			}); err != nil {
				return storeError("delete policy", err, "", "")
			}
			changed(r)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.Handle(Route{Method: "GET", Path: base + "/assignments", Access: admin, OperationID: "listRateLimitAssignments", Tags: tags,
		Summary: "List rate-limit assignments", Response: AssignmentList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			as, err := st.ListRateLimitAssignments(r.Context())
			if err != nil {
				return gateway.Internal("list assignments", err)
			}
			if as == nil {
				as = []gateway.RateLimitAssignment{}
			}
			return WriteJSON(w, http.StatusOK, AssignmentList{Data: as})
		}})
	s.Handle(Route{Method: "POST", Path: base + "/assignments", Access: admin, OperationID: "createRateLimitAssignment", Tags: tags,
		Summary: "Assign a policy to a key, user, role or route", Request: AssignmentBody{}, Response: gateway.RateLimitAssignment{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in AssignmentBody
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			a := gateway.RateLimitAssignment{PolicyID: in.PolicyID, SubjectType: in.SubjectType, Subject: in.Subject}
			if err := a.Validate(); err != nil {
				return err
			}
			if _, err := st.RateLimitPolicy(r.Context(), a.PolicyID); err != nil {
				return storeError("get policy", err, "body.policy_id", "")
			}
			if err := s.audited(r, func(ctx context.Context) (gateway.AuditEvent, error) {
				err := st.CreateRateLimitAssignment(ctx, &a)
				return gateway.AuditEvent{Action: gateway.AuditRateLimitAssignment, Target: &gateway.AuditRef{Type: "rate_limit_assignment", ID: a.ID},
					Details: map[string]any{"op": "create", "policy_id": a.PolicyID, "subject_type": a.SubjectType, "subject": a.Subject}}, err
			}); err != nil {
				return storeError("create assignment", err, "body.subject", "this subject already has a policy")
			}
			changed(r)
			return WriteJSON(w, http.StatusCreated, a)
		}})
	s.Handle(Route{Method: "DELETE", Path: base + "/assignments/{id}", Access: admin, OperationID: "deleteRateLimitAssignment", Tags: tags,
		Summary: "Delete an assignment", Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.audited(r, func(ctx context.Context) (gateway.AuditEvent, error) {
				return gateway.AuditEvent{Action: gateway.AuditRateLimitAssignment, Target: &gateway.AuditRef{Type: "rate_limit_assignment", ID: r.PathValue("id")},
					Details: map[string]any{"op": "delete"}}, st.DeleteRateLimitAssignment(ctx, r.PathValue("id"))
			}); err != nil {
				return storeError("delete assignment", err, "", "")
			}
			changed(r)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
}

// storeError maps a store error: not found → 404 not_found (or 400
// invalid_field when notFoundParam names a referenced id), conflict → 400
// invalid_field on conflictParam, anything else → 500.
func storeError(op string, err error, param, conflictMsg string) error {
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		if param != "" && conflictMsg == "" {
			return gateway.Invalid("invalid_field", param, "no such policy")
		}
		return gateway.NotFound("not_found", "not found")
	case errors.Is(err, gateway.ErrConflict) && conflictMsg != "":
		return gateway.Invalid("invalid_field", param, conflictMsg)
	}
	return gateway.Internal(op, err)
}
