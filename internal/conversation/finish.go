package conversation

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
)

// Backoff of the final write's retries.
const (
	finishFirstWait = 100 * time.Millisecond
	finishMaxWait   = 2 * time.Second
)

// maxDeferredFinishes bounds the replies held in memory when their final
// write gave up; beyond it a reply keeps only its checkpoint.
const maxDeferredFinishes = 10000

// finishReply stores the outcome of the completion on the pending
// assistant message, detached from the request's cancellation (a poster
// that left still gets its partial text stored). A failing write is
// retried with backoff for up to FinishRetry (a database restarting);
// after that the outcome is kept in memory for RunDeferredFinishes, the
// message keeps its checkpointed text meanwhile, and the post gets a 500.
func (s *Service) finishReply(ctx context.Context, o gateway.Owner, id string, res proxy.Result, cerr error) (gateway.Message, error) {
	r := gateway.MessageResult{Content: res.Content, Status: gateway.MessageComplete,
		PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens}
	switch {
	case cerr != nil && ctx.Err() != nil:
		r.Status = gateway.MessageIncomplete
	case cerr != nil:
		r.Status = gateway.MessageError
	case res.Status != gateway.UsageOK:
		r.Status = gateway.MessageIncomplete
	}
	dctx := context.WithoutCancel(ctx)
	deadline := time.Now().Add(s.finishRetry)
	wait := finishFirstWait
	for attempt := 0; ; attempt++ {
		m, err := s.store.FinishMessage(dctx, o, id, r)
		if err == nil {
			if attempt > 0 {
				s.log.InfoContext(ctx, "stored assistant message after retrying", "message_id", id, "attempts", attempt+1)
			}
			return m, nil
		}
		if errors.Is(err, gateway.ErrNotFound) {
			// No longer pending: swept by another instance that took this
			// one for dead. Its checkpoint stands.
			s.log.ErrorContext(ctx, "store assistant message: no longer pending", "message_id", id, "err", err)
			return gateway.Message{}, gateway.Internal("finish message", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.log.ErrorContext(ctx, "store assistant message failed; keeping it in memory to write later (the checkpoint stands meanwhile)",
				"message_id", id, "status", string(r.Status), "attempts", attempt+1, "err", err)
			s.deferred.add(s, deferredFinish{o: o, id: id, r: r})
			return gateway.Message{}, gateway.Internal("finish message", err)
		}
		if attempt == 0 {
			s.log.WarnContext(ctx, "store assistant message failed; retrying", "message_id", id, "retry_for", s.finishRetry.String(), "err", err)
		}
		s.metrics.finishRetries.Inc()
		time.Sleep(min(wait, left))
		wait = min(2*wait, finishMaxWait)
	}
}

// deferredFinish is a reply whose final write gave up.
type deferredFinish struct {
	o  gateway.Owner
	id string
	r  gateway.MessageResult
}

// deferredFinishes are the replies RunDeferredFinishes still has to write.
type deferredFinishes struct {
	mu   sync.Mutex
	byID map[string]deferredFinish
}

func (d *deferredFinishes) add(s *Service, f deferredFinish) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.byID) >= maxDeferredFinishes {
		s.metrics.finishDropped.Inc()
		s.log.Error("too many replies wait for their final write: this one keeps only its checkpoint", "message_id", f.id)
		return
	}
	d.byID[f.id] = f
	s.metrics.finishDeferred.Set(float64(len(d.byID)))
}

// RunDeferredFinishes writes, every interval until ctx ends, the replies
// whose final write gave up (FinishDeferred).
func (s *Service) RunDeferredFinishes(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.FinishDeferred(ctx)
		}
	}
}

// FinishDeferred tries once each reply whose final write gave up, and
// returns how many are still waiting. A written reply (or one no longer
// pending) is forgotten.
func (s *Service) FinishDeferred(ctx context.Context) int {
	s.deferred.mu.Lock()
	todo := make([]deferredFinish, 0, len(s.deferred.byID))
	for _, f := range s.deferred.byID {
		todo = append(todo, f)
	}
	s.deferred.mu.Unlock()
	for _, f := range todo {
		_, err := s.store.FinishMessage(ctx, f.o, f.id, f.r)
		if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			continue // the database is still down: next round
		}
		if err == nil {
			s.log.InfoContext(ctx, "stored assistant message whose final write had failed", "message_id", f.id, "status", string(f.r.Status))
		}
		s.deferred.mu.Lock()
		delete(s.deferred.byID, f.id)
		s.deferred.mu.Unlock()
	}
	s.deferred.mu.Lock()
	defer s.deferred.mu.Unlock()
	s.metrics.finishDeferred.Set(float64(len(s.deferred.byID)))
	return len(s.deferred.byID)
}

// replyMetrics watch the durability of streamed replies.
type replyMetrics struct {
	checkpoints, checkpointFailures, finishRetries, finishDropped prometheus.Counter
	finishDeferred                                                prometheus.Gauge
}

func newReplyMetrics(reg prometheus.Registerer) replyMetrics {
	m := replyMetrics{
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_reply_checkpoints_total",
			Help: "Checkpoints of streaming replies written."}),
		checkpointFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_reply_checkpoint_failures_total",
			Help: "Checkpoints of streaming replies that could not be written (retried next interval)."}),
		finishRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_reply_finish_retries_total",
			Help: "Retries of replies' final writes."}),
		finishDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_reply_finish_dropped_total",
			Help: "Replies whose final write gave up while too many were already waiting (only their checkpoint is stored)."}),
		finishDeferred: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tollgate_reply_finish_deferred",
			Help: "Replies whose final write gave up and are held in memory to be written when the database is back."}),
	}
	if reg != nil {
		reg.MustRegister(m.checkpoints, m.checkpointFailures, m.finishRetries, m.finishDropped, m.finishDeferred)
	}
	return m
}
