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
	UserScoped  bool
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
