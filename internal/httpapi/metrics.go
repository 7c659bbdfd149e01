package httpapi

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec, _ := w.(*recorder)
		defer func() {
			status := http.StatusOK
			if rec != nil && rec.wrote {
				status = rec.status
			}
			rm.count(status)
			rm.duration.Observe(time.Since(start).Seconds())
		}()
		if rec != nil {
			defer s.recoverPanic(rec, r)
		}
		next.ServeHTTP(w, r)
	})
}
