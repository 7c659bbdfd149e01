package proxy

import (
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// Head is what a Sink learns when an answer begins.
type Head struct {
	// Status is the upstream's 2xx status.
	Status int
	// Stream is true for an SSE answer (Event calls follow), false for a
	// whole body (one Body call follows).
	Stream bool
	// ContentType of a whole body ("application/json" when the upstream
	// named none).
	ContentType string
}

// Sink receives what one exchange produces, in the request's goroutine.
// The proxy never writes HTTP itself: /v1 gives it a sink that writes the
// upstream's bytes through, the conversation path one that keeps the text.
//
// Nothing reaches a sink before Begin, so an attempt that fails before its
// answer begins can still fall back, or be returned as an error to render.
// An error returned by Begin, Event or Body means the receiver is gone (the
// client left): the exchange stops and records the request as canceled.
type Sink interface {
	Begin(h Head) error
	// Event is one upstream SSE event, to forward unchanged: ev.Raw holds
	// the upstream's bytes for it.
	Event(ev llm.Event) error
	// Body is the whole non-streamed answer.
	Body(b []byte) error
	// Delta is the generated text of one event; called only when the
	// exchange was asked for deltas (Complete), right after its Event.
	Delta(text string)
	// Fail ends a begun answer that broke: the upstream stream was cut or
	// failed. /v1 writes it as an SSE error frame.
	Fail(err *gateway.Error)
}
