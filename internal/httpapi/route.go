package httpapi

import (
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Access is what a route demands of its caller: nothing (Public) or a
// minimum role. Every route declares one; Handle refuses a route that
// declares neither, and TestEveryRouteDeclaresAccess walks the router.
type Access struct {
	Public  bool
	MinRole gateway.Role
}

// Public marks a route that needs no credential.
var Public = Access{Public: true}

// Requires marks a route that needs at least role r.
func Requires(r gateway.Role) Access { return Access{MinRole: r} }

// Declared reports whether the access level was set at all.
func (a Access) Declared() bool { return a.Public || a.MinRole != gateway.RoleNone }

// Binding says which kinds of principal a non-public route admits once
// the role check passed. App credentials (end_user_mode keys and static
// tokens, and JWTs exchanged for them) are refused by every route that is
// neither UserScoped nor marked AppCredentials, whatever its Binding.
type Binding uint8

// The bindings, least demanding first.
const (
	// AnyPrincipal admits every principal with the role: users, keys,
	// static tokens, exchanged JWTs, the local principal of open mode.
	AnyPrincipal Binding = iota
	// UserBound admits only principals with a user behind them that act
	// as that user: a user's login and the user's own API keys (and JWTs
	// exchanged for them). Static tokens and the local principal are
	// refused: they have no user whose keys could be managed.
	UserBound
	// UserLogin admits only a user's own login (JWT or session) and the
	// local principal: logout and other routes that act on the user's
	// logins, which an API key or static token must not reach.
	UserLogin
)

// HandlerFunc is a route handler. A returned error is rendered as the SPEC
// envelope if the handler has not written a response yet.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one endpoint: its pattern, access level, handler and the Go types
// the OpenAPI document is generated from.
type Route struct {
	Method string
	Path   string
	Access Access
	// UserScoped routes enforce SPEC 2.6 for app credentials: the end-user
	// header is mandatory (except tenant-wide admin GETs).
	UserScoped bool
	// AppCredentials marks a route that is not user scoped but safe for
	// app credentials (SPEC 2.6: /v1/models, /v1/info, /api/auth/me, the
	// key exchange). Every other route answers them 403 insufficient_role
	// (SPEC 3): deny by default.
	AppCredentials bool
	// Binding restricts the kinds of principal (default AnyPrincipal).
	Binding Binding
	// NoStore marks a route whose answers carry a secret (an API key, a
	// token) or a credential decision: every answer, success or error,
	// gets Cache-Control: no-store. Handle sets it on every /api/auth/*
	// and /api/setup route.
	NoStore bool
	// Admits marks a route whose handler admits the request (budgets,
	// proxy.Admitter) before any upstream call: its rate-limit decision
	// may be deferred to that admission (Options.DeferLimits).
	Admits bool
	// Errors is the shape of the route's error bodies (default the SPEC
	// envelope; /v1/messages answers in Anthropic's).
	Errors      ErrorStyle
	OperationID string
	Summary     string
	Tags        []string
	// Request is a value of the JSON request body type (nil: no body).
	Request any
	// Response is a value of the success body type (nil: no body).
	Response any
	// Status is the success status (default 200).
	Status int
	// ContentType of the success response when it is not JSON
	// ("text/event-stream", "text/plain").
	ContentType string
	// Params documents path and query parameters.
	Params  []Param
	Handler HandlerFunc
}

// Param documents a path or query parameter.
type Param struct {
	Name        string
	In          string // "path" or "query"
	Description string
}

// Pattern is the ServeMux pattern of the route.
func (rt *Route) Pattern() string { return rt.Method + " " + rt.Path }

var (
	errAppCredential = &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role",
		Message: "App credentials (end_user_mode) act only for their end users and may not call this route"}
	errNoUser = &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role",
		Message: "This route acts for a user; authenticate as a user or with one of the user's own API keys"}
	errNotLogin = &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role",
		Message: "This route acts on a user's logins; authenticate with the user's own login, not an API key or static token"}
)

// admits returns nil when p may call the route (after the role check),
// else 403 insufficient_role.
func (rt *Route) admits(p *gateway.Principal) error {
	if p.EndUserMode && !rt.UserScoped && !rt.AppCredentials {
		return errAppCredential
	}
	switch rt.Binding {
	case UserBound:
		if p.UserID == "" || (p.Kind != gateway.PrincipalUser && p.Kind != gateway.PrincipalKey) {
			return errNoUser
		}
	case UserLogin:
		if p.Kind != gateway.PrincipalUser && p.Kind != gateway.PrincipalLocal {
			return errNotLogin
		}
	}
	return nil
}
