package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// gateway.Secret marshals as "[redacted]", so the request types that carry
// one are sent through these: the outer field shadows the embedded one.
type (
	setupBody struct {
		httpapi.SetupRequest
		Password   string `json:"password"`
		SetupToken string `json:"setup_token,omitempty"`
	}
	registerBody struct {
		httpapi.RegisterRequest
		Password string `json:"password"`
	}
	loginBody struct {
		httpapi.LoginRequest
		Password string `json:"password"`
	}
	createUserBody struct {
		httpapi.CreateUserRequest
		Password string `json:"password"`
	}
	patchUserBody struct {
		httpapi.PatchUserRequest
		Password *string `json:"password,omitempty"`
	}
)

// Status returns the auth mode and whether setup or registration is open
// (GET /api/auth/status, public).
func (c *Client) Status(ctx context.Context) (httpapi.AuthStatusResponse, error) {
	return get[httpapi.AuthStatusResponse](ctx, c, "/api/auth/status")
}

// SetupStatus reports whether the first admin exists (GET /api/setup).
func (c *Client) SetupStatus(ctx context.Context) (httpapi.SetupStatusResponse, error) {
	return get[httpapi.SetupStatusResponse](ctx, c, "/api/setup")
}

// Setup creates the first admin (POST /api/setup); afterwards it fails
// with 409 already_set_up.
func (c *Client) Setup(ctx context.Context, in httpapi.SetupRequest) (httpapi.UserResponse, error) {
	return call[httpapi.UserResponse](ctx, c, http.MethodPost, "/api/setup",
		setupBody{SetupRequest: in, Password: in.Password.Reveal(), SetupToken: in.SetupToken.Reveal()}, http.StatusCreated)
}

// Register creates a user by self-registration and logs it in
// (POST /api/auth/register).
func (c *Client) Register(ctx context.Context, in httpapi.RegisterRequest) (httpapi.LoginResponse, error) {
	return call[httpapi.LoginResponse](ctx, c, http.MethodPost, "/api/auth/register",
		registerBody{RegisterRequest: in, Password: in.Password.Reveal()}, http.StatusCreated)
}

// Login exchanges an email and password for a JWT (POST /api/auth/login).
// Use WithToken(res.AccessToken) to act as the user.
func (c *Client) Login(ctx context.Context, email string, password gateway.Secret) (httpapi.LoginResponse, error) {
	return call[httpapi.LoginResponse](ctx, c, http.MethodPost, "/api/auth/login",
		loginBody{LoginRequest: httpapi.LoginRequest{Email: email}, Password: password.Reveal()}, http.StatusOK)
}

// Logout revokes every JWT of the caller issued until now
// (POST /api/auth/logout).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/auth/logout", nil, nil, http.StatusNoContent)
}

// Me returns the caller's identity and effective role (GET /api/auth/me).
func (c *Client) Me(ctx context.Context) (httpapi.MeResponse, error) {
	return get[httpapi.MeResponse](ctx, c, "/api/auth/me")
}

// ExchangeToken exchanges the client's API key or static token for a JWT
// with its identity (POST /api/auth/token).
func (c *Client) ExchangeToken(ctx context.Context) (httpapi.TokenResponse, error) {
	return call[httpapi.TokenResponse](ctx, c, http.MethodPost, "/api/auth/token", nil, http.StatusOK)
}

// ListUsers lists users (GET /api/admin/users, admin).
func (c *Client) ListUsers(ctx context.Context, o ListOptions) (httpapi.UserList, error) {
	return get[httpapi.UserList](ctx, c, withQuery("/api/admin/users", o.query()))
}

// CreateUser creates a user (POST /api/admin/users, admin).
func (c *Client) CreateUser(ctx context.Context, in httpapi.CreateUserRequest) (httpapi.UserResponse, error) {
	return call[httpapi.UserResponse](ctx, c, http.MethodPost, "/api/admin/users",
		createUserBody{CreateUserRequest: in, Password: in.Password.Reveal()}, http.StatusCreated)
}

// UpdateUser changes a user's role, active flag, display name or password
// (PATCH /api/admin/users/{id}, admin).
func (c *Client) UpdateUser(ctx context.Context, id string, in httpapi.PatchUserRequest) (httpapi.UserResponse, error) {
	body := patchUserBody{PatchUserRequest: in}
	if in.Password != nil {
		pw := in.Password.Reveal()
		body.Password = &pw
	}
	return call[httpapi.UserResponse](ctx, c, http.MethodPatch, "/api/admin/users/"+url.PathEscape(id), body, http.StatusOK)
}
