package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// ListKeys lists the caller's API keys (GET /api/keys).
func (c *Client) ListKeys(ctx context.Context, o ListOptions) (httpapi.KeyList, error) {
	return get[httpapi.KeyList](ctx, c, withQuery("/api/keys", o.query()))
}

// CreateKey creates an API key for the caller (POST /api/keys); the
// answer's Key is the secret, shown only here and by RotateKey.
func (c *Client) CreateKey(ctx context.Context, in httpapi.CreateKeyRequest) (httpapi.KeyResponse, error) {
	return call[httpapi.KeyResponse](ctx, c, http.MethodPost, "/api/keys", in, http.StatusCreated)
}

// RevokeKey revokes one of the caller's keys (DELETE /api/keys/{id});
// another user's key is 404 not_found.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/keys/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
}

// RotateKey gives one of the caller's keys a new secret; the old one keeps
// working for in.GraceSeconds (POST /api/keys/{id}/rotate).
func (c *Client) RotateKey(ctx context.Context, id string, in httpapi.RotateKeyRequest) (httpapi.KeyResponse, error) {
	return call[httpapi.KeyResponse](ctx, c, http.MethodPost, "/api/keys/"+url.PathEscape(id)+"/rotate", in, http.StatusOK)
}

// AdminListKeys lists every key, or ownerID's when it is not ""
// (GET /api/admin/keys, admin).
func (c *Client) AdminListKeys(ctx context.Context, ownerID string, o ListOptions) (httpapi.KeyList, error) {
	q := o.query()
	if ownerID != "" {
		q.Set("owner_id", ownerID)
	}
	return get[httpapi.KeyList](ctx, c, withQuery("/api/admin/keys", q))
}

// AdminRevokeKey revokes any key (DELETE /api/admin/keys/{id}, admin).
func (c *Client) AdminRevokeKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/keys/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
}

// UpdateKey changes one of the caller's keys (PATCH /api/keys/{id}):
// name, allowed_models, max_parallel.
func (c *Client) UpdateKey(ctx context.Context, id string, in httpapi.PatchKeyRequest) (httpapi.KeyResponse, error) {
	return call[httpapi.KeyResponse](ctx, c, http.MethodPatch, "/api/keys/"+url.PathEscape(id), in, http.StatusOK)
}
