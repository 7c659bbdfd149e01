package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

const rateLimits = "/api/admin/rate-limits"

// ListPolicies lists rate-limit policies (admin).
func (c *Client) ListPolicies(ctx context.Context) (httpapi.PolicyList, error) {
	return get[httpapi.PolicyList](ctx, c, rateLimits+"/policies")
}

// CreatePolicy creates a rate-limit policy (admin).
func (c *Client) CreatePolicy(ctx context.Context, in httpapi.PolicyBody) (gateway.RateLimitPolicy, error) {
	return call[gateway.RateLimitPolicy](ctx, c, http.MethodPost, rateLimits+"/policies", in, http.StatusCreated)
}

// UpdatePolicy replaces a rate-limit policy (admin).
func (c *Client) UpdatePolicy(ctx context.Context, id string, in httpapi.PolicyBody) (gateway.RateLimitPolicy, error) {
	return call[gateway.RateLimitPolicy](ctx, c, http.MethodPut, rateLimits+"/policies/"+url.PathEscape(id), in, http.StatusOK)
}

// DeletePolicy deletes a policy and its assignments (admin).
func (c *Client) DeletePolicy(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, rateLimits+"/policies/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
}

// ListAssignments lists rate-limit assignments (admin).
func (c *Client) ListAssignments(ctx context.Context) (httpapi.AssignmentList, error) {
	return get[httpapi.AssignmentList](ctx, c, rateLimits+"/assignments")
}

// CreateAssignment assigns a policy to a key, user, role or route (admin).
func (c *Client) CreateAssignment(ctx context.Context, in httpapi.AssignmentBody) (gateway.RateLimitAssignment, error) {
	return call[gateway.RateLimitAssignment](ctx, c, http.MethodPost, rateLimits+"/assignments", in, http.StatusCreated)
}

// DeleteAssignment deletes an assignment (admin).
func (c *Client) DeleteAssignment(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, rateLimits+"/assignments/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
}

// UsageQuery selects a usage summary; zero fields are the server's
// defaults (the last 30 days, grouped by model).
type UsageQuery struct {
	From, To time.Time
	GroupBy  gateway.UsageGroupBy
}

func (q UsageQuery) values() url.Values {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339))
	}
	if q.GroupBy != "" {
		v.Set("group_by", string(q.GroupBy))
	}
	return v
}

// Usage is the caller's own usage (GET /api/usage).
func (c *Client) Usage(ctx context.Context, q UsageQuery) (httpapi.UsageResponse, error) {
	return get[httpapi.UsageResponse](ctx, c, withQuery("/api/usage", q.values()))
}

// AdminUsage is everyone's usage (GET /api/admin/usage, admin).
func (c *Client) AdminUsage(ctx context.Context, q UsageQuery) (httpapi.UsageResponse, error) {
	return get[httpapi.UsageResponse](ctx, c, withQuery("/api/admin/usage", q.values()))
}
