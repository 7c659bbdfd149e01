package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate/tollgate/internal/gateway"
)

// HealthResponse is the body of /healthz and /readyz.
type HealthResponse struct {
	Status string `json:"status" enum:"ok"`
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
		Summary:  "Readiness: the database is reachable and migrated (and Redis, if configured)",
		Response: HealthResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if s.opt.Ready != nil {
				if err := s.opt.Ready(r); err != nil {
					s.log.WarnContext(r.Context(), "not ready", "err", err)
					return &gateway.Error{Kind: gateway.KindUnavailable, Code: "not_ready", Message: "not ready", Err: err}
				}
			}
			return WriteJSON(w, http.StatusOK, HealthResponse{Status: "ok"})
		},
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
