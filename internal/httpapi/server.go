// Package httpapi is Tollgate's HTTP layer: the router with its route
// registry, middleware, handlers, the error envelope of SPEC.md section 1
// and the OpenAPI document. It never imports database/sql.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// Authenticator resolves a request's principal. It returns a
// *gateway.Error (401 missing_authorization, invalid_authorization,
// token_expired; 400 ambiguous_credentials, invalid_field) when the request
// has no acceptable credential.
type Authenticator interface {
	Authenticate(r *http.Request) (*gateway.Principal, error)
}

// Options are the server's dependencies.
type Options struct {
	Log *slog.Logger
	// Auth resolves principals. Nil means auth.mode = open: every request
	// acts as the built-in local admin.
	Auth Authenticator
	// ReadyChecks are /readyz's checks (database, Redis), in order;
	// Draining reports that shutdown has begun (/readyz then answers 503
	// with "server": "shutting_down").
	ReadyChecks []ReadyCheck
	Draining    func() bool
	// MaxBodyBytes caps request bodies (server.max_body_bytes).
	MaxBodyBytes int64
	// ReadTimeout bounds reading a request body (server.read_timeout),
	// from the handler's start to the body's end; 0 means no bound. It
	// is lifted once the body is read or the response starts, so long
	// streamed responses are unaffected.
	ReadTimeout time.Duration
	// EndUserHeader is auth.end_user_header.
	EndUserHeader string
	// Metrics registers the HTTP metrics; Gatherer serves /metrics.
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer
	// MetricsRequireAuth makes /metrics an admin route
	// (metrics.require_auth).
	MetricsRequireAuth bool
	// MetricsSeparate serves /metrics only through MetricsHandler, on a
	// listener of its own (metrics.addr); Handler answers it 404.
	MetricsSeparate bool
	Version         string

	// Proxy serves /v1; nil registers no /v1 routes.
	Proxy ChatProxy
	// Usage answers /api/usage; nil registers no usage routes.
	Usage gateway.UsageStore
	// Limiter decides every authenticated request after the role check
	// (so 401 and 403 answers consume nothing); nil limits nothing.
	Limiter RequestLimiter
	// DeferLimits, when it says yes for a principal on an Admits route
	// (and Limiter can defer: DeferringLimiter), leaves the rate-limit
	// decision to the request's admission, which makes it in the same
	// Redis call as the budgets (budget.Service.SharesLimits). A request
	// refused before admission is still counted, after its answer.
	DeferLimits func(*gateway.Principal) bool
	// Budgets serves the budget routes and GET /api/limits (nil: none).
	Budgets BudgetManager
	// RateLimits stores policies and assignments for the admin API;
	// RateLimitsChanged is called after every change (to refresh this
	// instance at once; others poll).
	RateLimits        gateway.RateLimitStore
	RateLimitsChanged func(ctx context.Context)
	// Identity serves the auth, setup and user routes; nil registers none.
	Identity Identity
	// LoginGuard runs before every login attempt (the per-IP login limiter
	// of SPEC 2.7); a returned error refuses the attempt.
	LoginGuard func(w http.ResponseWriter, r *http.Request) error
	// RegisterGuard runs before every setup and registration attempt (a
	// per-IP limiter of its own, auth.register_rate_per_minute).
	RegisterGuard func(w http.ResponseWriter, r *http.Request) error
	// Conversations serves /api/conversations, /api/messages and
	// /api/search; nil registers none of them.
	Conversations *conversation.Service
	// Events serves GET /api/stream/conversations/{id} (SPEC 7.1); nil
	// registers no stream route.
	Events events.Hub
	// Sessions serves the browser-session routes (SPEC 4) and clears the
	// cookies of a refused session; nil registers none.
	Sessions SessionManager
	// OAuth serves /api/auth/oauth/{name} and its callback; nil registers
	// neither (and GET /api/auth/status lists no providers).
	OAuth OAuth
	// Keys serves the API key routes and POST /api/auth/token; nil
	// registers none.
	Keys KeyManager
	// ClientIP returns a request's client address for the log of denied
	// requests (default: the TCP peer).
	ClientIP func(*http.Request) string
	// DenialLogPerSecond caps the log lines of 401 and 403 answers per
	// second per process (default 10, the same burst); see denyLog.
	DenialLogPerSecond int
	// Now is the clock of the denial log's rate limit (default time.Now).
	Now func() time.Time
	// WebUI, when set, answers the GET and HEAD requests that no route
	// matches outside /api, /v1 and the operational paths (the browser UI
	// and its client-side routes, SPEC 11); nil: those are 404 as well.
	WebUI http.Handler
	// AccessLog, when set, gets one record per request (log.access):
	// method, route pattern, status, duration, principal, request id.
	// /healthz, /readyz and /metrics are logged only when they fail.
	AccessLog *slog.Logger
	// Audit records access.denied for every 403 on an admin route (nil:
	// none); AuditLog serves GET /api/admin/audit and GET /api/audit (nil:
	// neither is registered).
	Audit    gateway.Auditor
	AuditLog AuditLog
}

// Server is the router with every route registered.
type Server struct {
	opt       Options
	log       *slog.Logger
	mux       *http.ServeMux
	routes    []*Route
	handler   http.Handler
	metrics   *httpMetrics
	eu        endUserRules
	denials   *denyLog
	ids       *requestIDs
	metricsH  http.Handler // MetricsHandler; nil unless MetricsSeparate
	openapiMu sync.Once
	openapi   []byte
	// readiness is /readyz's last answer, to log changes only.
	readiness atomic.Pointer[string]
}

// New builds the server and registers the built-in routes.
func New(opt Options) *Server {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 32 << 20
	}
	// The guards run before every login, setup and registration; none
	// configured lets every attempt through.
	noGuard := func(http.ResponseWriter, *http.Request) error { return nil }
	if opt.LoginGuard == nil {
		opt.LoginGuard = noGuard
	}
	if opt.RegisterGuard == nil {
		opt.RegisterGuard = noGuard
	}
	if opt.EndUserHeader == "" {
		opt.EndUserHeader = "X-End-User-Id"
	}
	if opt.Metrics == nil {
		reg := prometheus.NewRegistry()
		opt.Metrics, opt.Gatherer = reg, reg
	}
	s := &Server{
		opt:     opt,
		log:     opt.Log,
		mux:     http.NewServeMux(),
		metrics: newHTTPMetrics(opt.Metrics),
		eu:      newEndUserRules(opt.EndUserHeader),
		denials: newDenyLog(opt.Log, opt.DenialLogPerSecond, opt.Now, opt.ClientIP),
		ids:     newRequestIDs(),
	}
	s.opsRoutes()
	s.v1Routes()
	s.usageRoutes()
	s.rateLimitRoutes()
	s.budgetRoutes()
	s.authRoutes()
	s.oauthRoutes()
	s.conversationRoutes()
	s.keyRoutes()
	s.sessionRoutes()
	s.auditRoutes()
	s.mux.Handle("/", s.instrument("unmatched", s.unmatched(s.mux)))
	s.handler = s.outer(s.mux)
	return s
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves GET /metrics (with the access of
// metrics.require_auth) and answers everything else 404 or 405 in the
// envelope: the handler of the metrics.addr listener. It is nil unless
// Options.MetricsSeparate.
func (s *Server) MetricsHandler() http.Handler { return s.metricsH }

// Routes returns the registered routes.
func (s *Server) Routes() []*Route { return slices.Clone(s.routes) }

// Handle registers a route. It panics on a route that declares no access
// level, no handler, a path ending in a slash, or a duplicate pattern: all
// are programming errors.
func (s *Server) Handle(rt Route) {
	if !rt.Access.Declared() {
		panic(fmt.Sprintf("httpapi: route %s declares neither public nor a minimum role", rt.Pattern()))
	}
	if strings.HasSuffix(rt.Path, "/") {
		// A subtree pattern makes ServeMux redirect /x to /x/ in plain text.
		panic(fmt.Sprintf("httpapi: route %s ends in a slash", rt.Pattern()))
	}
	if rt.Handler == nil {
		panic(fmt.Sprintf("httpapi: route %s has no handler", rt.Pattern()))
	}
	if rt.Status == 0 {
		rt.Status = http.StatusOK
	}
	if strings.HasPrefix(rt.Path, "/api/auth/") || rt.Path == "/api/setup" {
		rt.NoStore = true
	}
	r := &rt
	s.routes = append(s.routes, r)
	s.mux.Handle(r.Pattern(), s.instrument(r.Pattern(), s.chain(r)))
}

// chain builds the per-route handler: authenticate, check the role, the
// kinds of principal the route admits (Route.admits: app credentials only
// on UserScoped and AppCredentials routes) and the end-user rules, then
// run the handler and render its error.
func (s *Server) chain(rt *Route) http.Handler {
	need := rt.Access
	denied := &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role",
		Message: "Requires " + need.MinRole.String() + " role"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.NoStore {
			w.Header().Set("Cache-Control", "no-store")
		}
		r = s.requestMeta(r)
		if !need.Public {
			p, err := s.authenticate(r)
			if err == nil && !p.Role.AtLeast(need.MinRole) {
				err = denied
			}
			if err == nil {
				err = rt.admits(p)
			}
			if err == nil {
				err = s.eu.apply(r, p, rt.UserScoped)
			}
			if err != nil {
				if ge, ok := gateway.AsError(err); ok && ge.Kind == gateway.KindUnauthenticated &&
					s.opt.Sessions != nil && s.opt.Sessions.HasSessionCookie(r) {
					// A refused session is dead: the browser drops its cookies.
					s.opt.Sessions.ClearSessionCookies(w)
				}
				s.denials.denied(r, rt.Pattern(), p, err)
				s.auditDenied(r, rt, p, err)
				writeStyledError(w, r, s.log, rt.Errors, err)
				return
			}
			if rec, ok := w.(*recorder); ok {
				rec.principal = p
			}
			r = r.WithContext(gateway.WithPrincipal(r.Context(), p))
			if d := s.deferLimits(rt, w, r, p); d != nil {
				r = r.WithContext(ratelimit.WithDeferred(r.Context(), d))
				defer func() { _ = d.CheckNow(context.WithoutCancel(r.Context())) }()
			} else if s.opt.Limiter != nil && !s.limit(w, r, rt.Errors) {
				return
			}
		}
		if err := rt.Handler(w, r); err != nil {
			if rec, ok := w.(*recorder); ok && rec.wrote {
				s.log.WarnContext(r.Context(), "handler failed after writing", "route", rt.Pattern(), "err", err)
				return
			}
			s.denials.denied(r, rt.Pattern(), gateway.PrincipalFrom(r.Context()), err)
			s.auditDenied(r, rt, gateway.PrincipalFrom(r.Context()), err)
			writeStyledError(w, r, s.log, rt.Errors, err)
		}
	})
}

func (s *Server) authenticate(r *http.Request) (*gateway.Principal, error) {
	if s.opt.Auth == nil {
		return &gateway.Principal{Kind: gateway.PrincipalLocal, UserID: gateway.LocalUserID,
			DisplayName: "local", Role: gateway.RoleAdmin}, nil
	}
	return s.opt.Auth.Authenticate(r)
}

var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unmatched answers every request no route of mux matches: 405 with Allow
// when the path exists under another method, else 404.
func (s *Server) unmatched(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.answerUnmatched(mux, w, r) }
}

func (s *Server) answerUnmatched(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	if s.opt.WebUI != nil && mux == s.mux && isUIPath(r) {
		s.opt.WebUI.ServeHTTP(w, r)
		return
	}
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, r, s.log, gateway.E(gateway.KindMethodNotAllowed, "method_not_allowed",
			"method "+r.Method+" is not allowed on this path"))
		return
	}
	WriteError(w, r, s.log, gateway.NotFound("not_found", "no route for "+r.Method+" "+r.URL.Path))
}

// isUIPath reports whether an unmatched request belongs to the web UI: a
// GET or HEAD outside the API (/api, /v1) and the operational paths, which
// keep their JSON 404 and 405 answers.
func isUIPath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	for _, api := range []string{"/api", "/v1"} {
		if p == api || strings.HasPrefix(p, api+"/") {
			return false
		}
	}
	switch p {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return false
	}
	return true
}
