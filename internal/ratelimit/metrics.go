package ratelimit

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts rate-limit decisions.
type Metrics struct {
	decisions *prometheus.CounterVec
}

// NewMetrics registers tollgate_ratelimit_decisions_total{policy, bucket,
// result} on reg: one count per bucket evaluated, bucket "requests" or
// "tokens", result "allowed" or "limited".
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_ratelimit_decisions_total",
		Help: "Rate-limit bucket decisions by policy, bucket kind and result.",
	}, []string{"policy", "bucket", "result"})}
	if err := reg.Register(m.decisions); err != nil {
		return nil, fmt.Errorf("register rate limit metrics: %w", err)
	}
	return m, nil
}

func (m *Metrics) observe(b bucketSpec, allowed bool) {
	if m == nil {
		return
	}
	kind, result := "requests", "allowed"
	if b.tokens {
		kind = "tokens"
	}
	if !allowed {
		result = "limited"
	}
	m.decisions.WithLabelValues(b.policy, kind, result).Inc()
}
