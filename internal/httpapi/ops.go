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
	s.Handle(Route{
		Method: "GET", Path: "/metrics", Access: Public, OperationID: "metrics", Tags: []string{"operations"},
		Summary: "Prometheus metrics", ContentType: "text/plain",
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			metrics.ServeHTTP(w, r)
			return nil
		},
	})
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
