package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/internal/gateway"
)

// HealthResponse is the body of /healthz.
type HealthResponse struct {
	Status string `json:"status" enum:"ok"`
}

// ReadyResponse is the body of /readyz when every check passes: each
// check's name and "ok".
type ReadyResponse struct {
	Status string            `json:"status" enum:"ok"`
	Checks map[string]string `json:"checks"`
}

// NotReadyResponse is the body of /readyz's 503: the SPEC error envelope
// (not_ready) plus each check's state and, once shutdown has begun,
// "server": "shutting_down".
type NotReadyResponse struct {
	gateway.ErrorBody
	Checks map[string]string `json:"checks"`
	Server string            `json:"server,omitempty" enum:"shutting_down"`
}

// ReadyCheck is one named readiness check. Check returns nil when the
// dependency is ready; a *CheckError names its state ("unreachable",
// "not_migrated"), any other error reads "unreachable". The state is shown,
// the error only logged.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// CheckError is a failed readiness check: State is shown in /readyz's
// body, Err is logged.
type CheckError struct {
	State string
	Err   error
}

func (e *CheckError) Error() string { return e.State + ": " + e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// readyCheckTimeout bounds each readiness check.
const readyCheckTimeout = 2 * time.Second

// readyz runs every check and answers 200 or 503 not_ready with each
// check's state. A change of the answer (ready → not ready, which check
// fails, → ready again) is logged once, not every probe.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	checks := make(map[string]string, len(s.opt.ReadyChecks))
	var failed []any
	for _, c := range s.opt.ReadyChecks {
		ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
		err := c.Check(ctx)
		cancel()
		state := "ok"
		if err != nil {
			state = "unreachable"
			var ce *CheckError
			if errors.As(err, &ce) {
				state = ce.State
			}
			failed = append(failed, slog.String(c.Name, err.Error()))
		}
		checks[c.Name] = state
	}
	draining := s.opt.Draining != nil && s.opt.Draining()
	s.logReadiness(r.Context(), checks, draining, failed)
	if failed == nil && !draining {
		return WriteJSON(w, http.StatusOK, ReadyResponse{Status: "ok", Checks: checks})
	}
	msg := "not ready: " + describeChecks(checks)
	body := NotReadyResponse{Checks: checks}
	if draining {
		body.Server = "shutting_down"
		msg = "not ready: the server is shutting down"
	}
	wire := gateway.ToWire(&gateway.Error{Kind: gateway.KindUnavailable, Code: "not_ready", Message: msg})
	wire.SetHeaders(w.Header())
	body.ErrorBody = wire.Body
	writeJSONStatus(w, wire.Status, body)
	return nil
}

// describeChecks lists the failed checks, sorted: "redis unreachable".
func describeChecks(checks map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		if st := checks[name]; st != "ok" {
			parts = append(parts, name+" "+st)
		}
	}
	return strings.Join(parts, ", ")
}

// logReadiness logs when the readiness answer differs from the previous
// one: a warning with each failed check's cause, or "ready" again.
func (s *Server) logReadiness(ctx context.Context, checks map[string]string, draining bool, failed []any) {
	state := describeChecks(checks)
	if draining {
		state += "|draining"
	}
	prev := s.readiness.Swap(&state)
	if prev != nil && *prev == state || prev == nil && state == "" {
		return
	}
	switch {
	case draining && failed == nil:
		s.log.InfoContext(ctx, "not ready: shutting down")
	case failed != nil:
		s.log.WarnContext(ctx, "not ready", "checks", checks, slog.Group("errors", failed...))
	default:
		s.log.InfoContext(ctx, "ready", "checks", checks)
	}
}

func (s *Server) opsRoutes() {
	s.Handle(Route{
		Method: "GET", Path: "/healthz", Access: Public, OperationID: "healthz", Tags: []string{"operations"},
		Summary: "Liveness: the process is up", Response: HealthResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/readyz", Access: Public, OperationID: "readyz", Tags: []string{"operations"},
		Summary: "Readiness: the database is reachable and migrated, the last heartbeat write succeeded (and Redis, if configured); " +
			"503 not_ready (the envelope plus the checks) when one fails or shutdown has begun",
		Response: ReadyResponse{},
		Handler:  s.readyz,
	})
	var metrics http.Handler = http.NotFoundHandler()
	if s.opt.Gatherer != nil {
		metrics = promhttp.HandlerFor(s.opt.Gatherer, promhttp.HandlerOpts{})
	}
	rt := Route{
		Method: "GET", Path: "/metrics", Access: Public, OperationID: "metrics", Tags: []string{"operations"},
		Summary: "Prometheus metrics", ContentType: "text/plain",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			metrics.ServeHTTP(w, r)
			return nil
		},
	}
	if s.opt.MetricsRequireAuth {
		rt.Access = Requires(gateway.RoleAdmin)
		rt.Summary = "Prometheus metrics (metrics.require_auth: admins only)"
	}
	if !s.opt.MetricsSeparate {
		s.Handle(rt)
	} else {
		// metrics.addr: the metrics listener serves the route; this one
		// declares it (so the access matrix and the OpenAPI document
		// still show it) and answers 404.
		mux := http.NewServeMux()
		mux.Handle(rt.Pattern(), s.instrument(rt.Pattern(), s.chain(&rt)))
		mux.Handle("/", s.instrument("unmatched", s.unmatched(mux)))
		s.metricsH = s.outer(mux)
		s.Handle(Route{
			Method: "GET", Path: "/metrics", Access: Public, OperationID: "metrics", Tags: []string{"operations"},
			Summary: "Prometheus metrics are served on metrics.addr: this listener answers 404 not_found",
			Status:  http.StatusNotFound,
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				return gateway.NotFound("not_found", "metrics are served on another listener (metrics.addr)")
			},
		})
	}
	s.Handle(Route{
		Method: "GET", Path: "/openapi.json", Access: Public, OperationID: "openapi", Tags: []string{"operations"},
		Summary: "The OpenAPI 3.1 document of every route", ContentType: "application/json",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			doc, err := s.OpenAPI()
			if err != nil {
				return gateway.Internal("openapi", err)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(doc)
			return nil
		},
	})
}
