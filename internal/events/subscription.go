package events

import (
	"context"
	"sync"
	"time"
)

// replayBatch is how many retained events a replay reads at a time.
const replayBatch = 256

// Subscription is one subscriber of one conversation on this instance:
// first the replay (read from the store in batches), then the live events
// from a bounded queue. A full queue drops message.delta events first (the
// following message.done carries the whole text); when only other events
// are queued, the subscription ends with ErrSlow. Next is not safe for
// concurrent use; everything else is.
type Subscription struct {
	b     *Broker
	conv  string
	check func(context.Context) error

	// replay state (Next's goroutine only)
	replaying               bool
	replayAfter, replayUpTo int64
	batch                   []Event
	timer                   *time.Timer

	mu       sync.Mutex
	queue    []*Event
	skipUpTo int64 // live events up to this seq were replayed or are the client's
	err      error // why the subscription ended
	signal   chan struct{}
}

// push queues a live event (the conversation's lock held).
func (s *Subscription) push(ev *Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if len(s.queue) >= s.b.opt.Buffer {
		if ev.Type == TypeDelta {
			s.b.metrics.dropped.WithLabelValues("delta").Inc()
			return
		}
		i := 0
		for i < len(s.queue) && s.queue[i].Type != TypeDelta {
			i++
		}
		if i == len(s.queue) {
			s.err = ErrSlow
			s.queue = nil
			s.b.metrics.dropped.WithLabelValues("disconnect").Inc()
			s.wake()
			return
		}
		s.b.metrics.dropped.WithLabelValues("delta").Inc()
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
	}
	s.queue = append(s.queue, ev)
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// end ends the subscription with err (the first reason wins).
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		s.queue = nil
	}
	s.mu.Unlock()
	s.wake()
}

// Close ends the subscription and releases it.
func (s *Subscription) Close() {
	s.end(ErrClosed)
	s.b.unsubscribe(s)
	if s.timer != nil {
		s.timer.Stop()
	}
}

// Next returns the next event: replayed ones first (a single TypeResync
// event, whose Seq is where the live stream starts, when the retained
// events no longer reach back to the Last-Event-ID), then live ones. It
// returns ErrIdle after idle (> 0) without an event, ctx's error, or the
// reason the subscription ended (ErrSlow, ErrRevoked, ErrClosed).
func (s *Subscription) Next(ctx context.Context, idle time.Duration) (Event, error) {
	if s.replaying {
		if ev, ok, err := s.nextReplayed(ctx); err != nil || ok {
			return ev, err
		}
	}
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return Event{}, err
		}
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil // let an idle subscriber hold no array
			}
			skip := ev.Seq > 0 && ev.Seq <= s.skipUpTo // seq 0: unpersisted, never replayed
			s.mu.Unlock()
			if skip {
				continue
			}
			return *ev, nil
		}
		s.mu.Unlock()
		var timeout <-chan time.Time
		if idle > 0 {
			if s.timer == nil {
				s.timer = time.NewTimer(idle)
			} else {
				s.timer.Reset(idle)
			}
			timeout = s.timer.C
		}
		select {
		case <-s.signal:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-timeout:
			return Event{}, ErrIdle
		}
	}
}

// nextReplayed returns the next retained event, or ok false when the
// replay is over.
func (s *Subscription) nextReplayed(ctx context.Context) (Event, bool, error) {
	if len(s.batch) == 0 && s.replayAfter < s.replayUpTo {
		batch, err := s.b.opt.Store.EventsAfter(ctx, s.conv, s.replayAfter, s.replayUpTo, replayBatch)
		if err != nil {
			return Event{}, false, err
		}
		if len(batch) == 0 || batch[0].Seq != s.replayAfter+1 {
			// Pruned: the client refetches through the REST routes and
			// continues live.
			s.replaying, s.batch = false, nil
			s.b.metrics.resyncs.Inc()
			return Event{ConversationID: s.conv, Seq: s.replayUpTo, Type: TypeResync, Data: []byte("{}")}, true, nil
		}
		s.batch = batch
	}
	if len(s.batch) == 0 {
		s.replaying = false
		return Event{}, false, nil
	}
	ev := s.batch[0]
	s.batch = s.batch[1:]
	s.replayAfter = ev.Seq
	s.b.metrics.replayed.Inc()
	return ev, true, nil
}
