package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tollgate_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern (time to the handler's return).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// routeMetrics holds one route's pre-resolved series, so a request pays no
// label lookup.
type routeMetrics struct {
	route    string
	parent   *httpMetrics
	duration prometheus.Observer
	byStatus [600]atomic.Pointer[prometheus.Counter]
}

func (rm *routeMetrics) count(status int) {
	if status < 100 || status >= 600 {
		status = 500
	}
	c := rm.byStatus[status].Load()
	if c == nil {
		cc := rm.parent.requests.WithLabelValues(rm.route, strconv.Itoa(status))
		c = &cc
		rm.byStatus[status].Store(c)
	}
	(*c).Inc()
}

// instrument records the count and latency of a route's requests, labelled
// by the route's pattern (never the raw path).
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	rm := &routeMetrics{route: route, parent: s.metrics, duration: s.metrics.duration.WithLabelValues(route)}
	access := s.opt.AccessLog
	probe := isProbe(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec, _ := w.(*recorder)
		defer func() {
			status := http.StatusOK
			if rec != nil && rec.wrote {
				status = rec.status
			}
			d := time.Since(start)
			rm.count(status)
			rm.duration.Observe(d.Seconds())
			if access != nil && (!probe || status >= 400) {
				var p *gateway.Principal
				if rec != nil {
					p = rec.principal
				}
				logAccess(access, r, route, status, d, p)
			}
		}()
		if rec != nil {
			defer s.recoverPanic(rec, r)
		}
		next.ServeHTTP(w, r)
	})
}

// isProbe reports the routes that probes and scrapers call every few
// seconds; the access log records them only when they fail.
func isProbe(route string) bool {
	switch route {
	case "GET /healthz", "GET /readyz", "GET /metrics":
		return true
	}
	return false
}

// logAccess writes one access-log record. It is called after the handler
// returned, with pre-resolved attributes only (no formatting on the
// handler's side); the principal is identified, never its credential:
// user id, API key prefix (without tg_), static token name.
func logAccess(log *slog.Logger, r *http.Request, route string, status int, d time.Duration, p *gateway.Principal) {
	ctx := r.Context()
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	kind, id := "anonymous", ""
	if p != nil {
		switch p.Kind {
		case gateway.PrincipalUser:
			kind, id = "user", p.UserID
		case gateway.PrincipalKey:
			kind, id = "key", p.KeyPrefix
		case gateway.PrincipalStatic:
			kind, id = "static", p.StaticName
		case gateway.PrincipalLocal:
			kind, id = "local", p.UserID
		}
	}
	log.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("principal", kind),
		slog.String("principal_id", id),
		slog.String("request_id", RequestID(ctx)))
}
