package openai

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/llm"
)

// errIdle is the cancellation cause when the upstream sent nothing for a
// whole timeout.
var errIdle = errors.New("no data from upstream within the provider timeout")

// idleBody enforces the provider timeout between body reads: each Read must
// return within timeout, else the request is cancelled and the read fails
// with an ErrTimeout TransportError. Other read failures are ErrBroken.
type idleBody struct {
	ctx      context.Context
	rc       io.ReadCloser
	cancel   context.CancelCauseFunc
	timer    *time.Timer
	timeout  time.Duration
	provider string
	fired    atomic.Bool
}

func newIdleBody(ctx context.Context, rc io.ReadCloser, timeout time.Duration, cancel context.CancelCauseFunc, provider string) *idleBody {
	b := &idleBody{ctx: ctx, rc: rc, cancel: cancel, timeout: timeout, provider: provider}
	b.timer = time.AfterFunc(timeout, b.expire)
	return b
}

func (b *idleBody) expire() {
	b.fired.Store(true)
	b.cancel(errIdle)
}

// Read reads from the upstream body, restarting the idle timer on every
// return.
func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.fired.Load() {
		return n, &llm.TransportError{Kind: llm.ErrTimeout, Provider: b.provider, Err: errIdle}
	}
	b.timer.Reset(b.timeout)
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); cause != nil {
			return n, cause // the caller went away
		}
		return n, &llm.TransportError{Kind: llm.ErrBroken, Provider: b.provider, Err: err}
	}
	return n, err
}

// Close stops the timer, closes the body and releases the request context.
func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
