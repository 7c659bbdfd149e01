package events

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	subscribers prometheus.Gauge
	published   *prometheus.CounterVec
	fanned      prometheus.Counter
	dropped     *prometheus.CounterVec
	replays     prometheus.Counter
	replayed    prometheus.Counter
	resyncs     prometheus.Counter
	pruned      prometheus.Counter
}

// newMetrics registers the hub's metrics on reg (nil: not registered).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tollgate_stream_subscribers",
			Help: "Live conversation event subscribers on this instance."}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_stream_events_published_total",
			Help: "Conversation events persisted and published by this instance, by type."}, []string{"type"}),
		fanned: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_stream_events_delivered_total",
			Help: "Live events queued to subscribers on this instance."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_stream_drops_total",
			Help: "Slow subscribers: message.delta events dropped (reason delta) and subscribers disconnected (reason disconnect); signals from other instances dropped while the reader lagged (reason signal)."}, []string{"reason"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_stream_replays_total",
			Help: "Subscriptions that resumed with a Last-Event-ID and replayed retained events."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_stream_replayed_events_total",
			Help: "Retained events replayed to resuming subscribers."}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_stream_resyncs_total",
			Help: "resync events sent (Last-Event-ID older than what is retained)."}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_stream_events_pruned_total",
			Help: "Events deleted after stream.retention."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.subscribers, m.published, m.fanned, m.dropped, m.replays, m.replayed, m.resyncs, m.pruned} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
