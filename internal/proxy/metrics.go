package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus collectors. Labels take only
// configured model and provider names, never client input, so their
// cardinality is bounded by the config.
type metrics struct {
	latency  *prometheus.HistogramVec // model, provider
	ttft     *prometheus.HistogramVec // model, provider
	tokens   *prometheus.CounterVec   // model, provider, type
	requests *prometheus.CounterVec   // model, provider, outcome
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tollgate_upstream_duration_seconds",
			Help:    "Time from sending a completion upstream to its last byte, by configured model and provider.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320},
		}, []string{"model", "provider"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tollgate_upstream_ttft_seconds",
			Help:    "Time from sending a streamed completion upstream to its first content chunk.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"model", "provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_llm_tokens_total",
			Help: "Tokens used by completions, by configured model, provider and type (prompt or completion).",
		}, []string{"model", "provider", "type"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_upstream_requests_total",
			Help: "Upstream completion attempts by configured model, provider and outcome (ok, canceled, incomplete, or an error code).",
		}, []string{"model", "provider", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.latency, m.ttft, m.tokens, m.requests)
	}
	return m
}

// targetMetrics are one target's label-resolved collectors, looked up once.
type targetMetrics struct {
	latency, ttft             prometheus.Observer
	promptTokens, complTokens prometheus.Counter
	requests                  *prometheus.CounterVec
	model, provider           string
}

func (m *metrics) forTarget(model, provider string) *targetMetrics {
	return &targetMetrics{
		latency:      m.latency.WithLabelValues(model, provider),
		ttft:         m.ttft.WithLabelValues(model, provider),
		promptTokens: m.tokens.WithLabelValues(model, provider, "prompt"),
		complTokens:  m.tokens.WithLabelValues(model, provider, "completion"),
		requests:     m.requests,
		model:        model,
		provider:     provider,
	}
}

func (tm *targetMetrics) outcome(o string) {
	tm.requests.WithLabelValues(tm.model, tm.provider, o).Inc()
}
