package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// countingLimiter admits everything and counts the decisions it made.
type countingLimiter struct{ calls int }

func (c *countingLimiter) CheckHTTP(*http.Request) (*ratelimit.Decision, error) {
	c.calls++
	return &ratelimit.Decision{Allowed: true}, nil
}

// scopedServer has a user-scoped GET and POST that echo the principal's
// data scope, behind an authenticator that returns p.
func scopedServer(t *testing.T, p *gateway.Principal, lim httpapi.RequestLimiter) string {
	t.Helper()
	s := httpapi.New(httpapi.Options{Auth: fixedAuth{p: p}, Limiter: lim})
	echoOwner := func(w http.ResponseWriter, r *http.Request) error {
		o := gateway.PrincipalFrom(r.Context()).Owner()
		return httpapi.WriteJSON(w, 200, map[string]any{"user": o.UserID, "end_user": o.EndUserID, "all": o.AllEndUsers})
	}
	for _, m := range []string{"GET", "POST"} {
		s.Handle(httpapi.Route{Method: m, Path: "/test/scoped", Access: httpapi.Requires(gateway.RoleViewer), UserScoped: true,
			OperationID: "scoped" + m, Handler: echoOwner})
	}
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/unscoped", Access: httpapi.Requires(gateway.RoleViewer),
		AppCredentials: true, OperationID: "unscoped", Handler: echoOwner})
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/undeclared", Access: httpapi.Requires(gateway.RoleViewer),
		OperationID: "undeclared", Handler: echoOwner})
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/admin-only", Access: httpapi.Requires(gateway.RoleAdmin),
		OperationID: "adminOnly", Handler: echoOwner})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func scopedCall(t *testing.T, method, url, endUser string) (*http.Response, []byte) {
	t.Helper()
	req := newReq(t, method, url, "", nil)
	if endUser != "" {
		req.Header.Set("X-End-User-Id", endUser)
	}
	return do(t, req)
}

func TestEndUserRules(t *testing.T) {
	t.Parallel()
	app := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "k1", Role: gateway.RoleContributor, EndUserMode: true}
	adminApp := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "k2", Role: gateway.RoleAdmin, EndUserMode: true}
	user := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1", Role: gateway.RoleContributor}
	header := ptr("headers.x-end-user-id")

	t.Run("AppCredentialNamesEndUser", func(t *testing.T) {
		base := scopedServer(t, app, nil)
		resp, body := scopedCall(t, "GET", base+"/test/scoped", "alice@example.com")
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"all":false,"end_user":"alice@example.com","user":"owner"}` {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})
	t.Run("HeaderMissing", func(t *testing.T) {
		base := scopedServer(t, app, nil)
		for _, m := range []string{"GET", "POST"} {
			resp, body := scopedCall(t, m, base+"/test/scoped", "")
			wantError(t, resp, body, 400, "invalid_request_error", "missing_field", header)
		}
	})
	t.Run("HeaderInvalid", func(t *testing.T) {
		base := scopedServer(t, app, nil)
		for _, bad := range []string{"has space", strings.Repeat("a", 129), "semi;colon", "slash/x"} {
			resp, body := scopedCall(t, "GET", base+"/test/scoped", bad)
			wantError(t, resp, body, 400, "invalid_request_error", "invalid_field", header)
		}
	})
	t.Run("UserIDInQuery", func(t *testing.T) {
		base := scopedServer(t, app, nil)
		resp, body := scopedCall(t, "GET", base+"/test/scoped?user_id=bob", "alice")
		wantError(t, resp, body, 400, "invalid_request_error", "invalid_field", ptr("query.user_id"))
	})
	t.Run("AdminAppTenantWideGetOnly", func(t *testing.T) {
		base := scopedServer(t, adminApp, nil)
		resp, body := scopedCall(t, "GET", base+"/test/scoped", "")
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"all":true,"end_user":"","user":"owner"}` {
			t.Fatalf("tenant-wide GET = %d %s", resp.StatusCode, body)
		}
		resp, body = scopedCall(t, "POST", base+"/test/scoped", "")
		wantError(t, resp, body, 400, "invalid_request_error", "missing_field", header)
	})
	t.Run("RouteNotDeclaredForAppCredentialsRefusesThem", func(t *testing.T) {
		base := scopedServer(t, app, nil)
		for _, eu := range []string{"", "alice"} {
			resp, body := scopedCall(t, "GET", base+"/test/undeclared", eu)
			wantError(t, resp, body, 403, "permission_error", "insufficient_role", nil)
		}
		plain := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "k2", Role: gateway.RoleAdmin}
		resp, _ := scopedCall(t, "GET", scopedServer(t, plain, nil)+"/test/undeclared", "")
		if resp.StatusCode != 200 {
			t.Fatalf("plain key on undeclared route = %d, want 200", resp.StatusCode)
		}
	})
	t.Run("UnscopedRouteHeaderOptional", func(t *testing.T) {
		base := scopedServer(t, app, nil)
		resp, _ := scopedCall(t, "GET", base+"/test/unscoped", "")
		if resp.StatusCode != 200 {
			t.Fatalf("without header = %d, want 200", resp.StatusCode)
		}
		resp, body := scopedCall(t, "GET", base+"/test/unscoped", "alice")
		var got map[string]any
		_ = json.Unmarshal(body, &got)
		if resp.StatusCode != 200 || got["end_user"] != "alice" {
			t.Fatalf("with header = %d %s", resp.StatusCode, body)
		}
		resp, body = scopedCall(t, "GET", base+"/test/unscoped", "bad value")
		wantError(t, resp, body, 400, "invalid_request_error", "invalid_field", header)
	})
	t.Run("NotAnAppCredential", func(t *testing.T) {
		base := scopedServer(t, user, nil)
		for _, path := range []string{"/test/scoped", "/test/unscoped"} {
			resp, body := scopedCall(t, "GET", base+path, "alice")
			wantError(t, resp, body, 400, "invalid_request_error", "invalid_field", header)
		}
		resp, body := scopedCall(t, "GET", base+"/test/scoped", "")
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"all":false,"end_user":"","user":"u1"}` {
			t.Fatalf("user without header = %d %s", resp.StatusCode, body)
		}
	})
}

func TestRefusalsDoNotConsumeBudget(t *testing.T) {
	t.Parallel()
	lim := &countingLimiter{}
	user := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1", Role: gateway.RoleContributor}
	base := scopedServer(t, user, lim)
	resp, body := scopedCall(t, "GET", base+"/test/admin-only", "")
	wantError(t, resp, body, 403, "permission_error", "insufficient_role", nil)
	resp, body = scopedCall(t, "GET", base+"/test/scoped", "alice") // 400: not an app credential
	wantError(t, resp, body, 400, "invalid_request_error", "invalid_field", ptr("headers.x-end-user-id"))
	if lim.calls != 0 {
		t.Fatalf("limiter consulted %d times for refused requests, want 0", lim.calls)
	}
	if resp, _ := scopedCall(t, "GET", base+"/test/scoped", ""); resp.StatusCode != 200 || lim.calls != 1 {
		t.Fatalf("admitted request: status %d, limiter calls %d; want 200 and 1", resp.StatusCode, lim.calls)
	}
}

func TestUnauthenticatedDoesNotConsumeBudget(t *testing.T) {
	t.Parallel()
	lim := &countingLimiter{}
	s := httpapi.New(httpapi.Options{Limiter: lim,
		Auth: fixedAuth{err: gateway.E(gateway.KindUnauthenticated, "invalid_authorization", "bad credential")}})
	s.Handle(httpapi.Route{Method: "GET", Path: "/test/x", Access: httpapi.Requires(gateway.RoleViewer), OperationID: "x",
		Handler: func(w http.ResponseWriter, r *http.Request) error { return nil }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, body := do(t, newReq(t, "GET", srv.URL+"/test/x", "", nil))
	wantError(t, resp, body, 401, "authentication_error", "invalid_authorization", nil)
	if lim.calls != 0 || resp.Header.Get("RateLimit") != "" {
		t.Fatalf("401 consulted the limiter %d times (RateLimit %q), want 0", lim.calls, resp.Header.Get("RateLimit"))
	}
}
