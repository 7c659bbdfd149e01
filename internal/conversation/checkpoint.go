package conversation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// checkpointWriteTimeout bounds one checkpoint UPDATE: a database that
// does not answer costs a skipped checkpoint, never a waiting stream.
const checkpointWriteTimeout = 5 * time.Second

// checkpointer keeps the text of a reply as it streams and writes it to
// the pending message at most once per interval, from its own goroutine:
// add (called per delta on the stream's path) only appends under a mutex,
// so the client's stream never waits on the database.
type checkpointer struct {
	mu   sync.Mutex
	text strings.Builder
	stop chan struct{}
	done chan struct{}
}

// startCheckpoints starts checkpointing message id of o every interval
// (interval <= 0: never; add still works and stop returns at once).
func (s *Service) startCheckpoints(ctx context.Context, o gateway.Owner, id string) *checkpointer {
	c := &checkpointer{stop: make(chan struct{}), done: make(chan struct{})}
	if s.checkpointEvery <= 0 {
		close(c.done)
		return c
	}
	go c.run(context.WithoutCancel(ctx), s, o, id)
	return c
}

func (c *checkpointer) add(delta string) {
	c.mu.Lock()
	c.text.WriteString(delta)
	c.mu.Unlock()
}

func (c *checkpointer) snapshot() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.text.String()
}

// run writes the text whenever it grew since the last successful write.
// It stops when stop is closed (the final write follows) or the message
// is no longer pending.
func (c *checkpointer) run(ctx context.Context, s *Service, o gateway.Owner, id string) {
	defer close(c.done)
	tick := time.NewTicker(s.checkpointEvery)
	defer tick.Stop()
	written, failing := 0, false
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		text := c.snapshot()
		if len(text) == written {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, checkpointWriteTimeout)
		err := s.store.CheckpointMessage(wctx, o, id, text)
		cancel()
		switch {
		case err == nil:
			written = len(text)
			if failing {
				s.log.InfoContext(ctx, "checkpoint of streamed reply written again", "message_id", id)
			}
			failing = false
			s.metrics.checkpoints.Inc()
		case errors.Is(err, gateway.ErrNotFound):
			return // finished or swept: nothing more to keep
		default:
			s.metrics.checkpointFailures.Inc()
			if !failing {
				s.log.WarnContext(ctx, "checkpoint of streamed reply failed; retrying next interval", "message_id", id, "err", err)
			}
			failing = true
		}
	}
}

// end stops checkpointing without waiting for a write in flight.
func (c *checkpointer) end() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
}
