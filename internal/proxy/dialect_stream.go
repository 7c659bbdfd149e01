package proxy

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// relayDialectStream is relayStream for the Responses and Messages routes:
// events are forwarded unchanged (their event: names included) and the
// dialect observes each; the answer is complete at the dialect's end event
// (these streams have no [DONE]). The sink begins with the first event, so
// a stream that fails before any event can still fall back; after that a
// cut ends the answer through Sink.Fail, and an upstream error event is
// forwarded and ends it without a second frame, as on chat completions.
func (x *exchange) relayDialectStream(t *target, resp *llm.Response, attemptStart time.Time) (*gateway.Error, bool) {
	sawEnd, upstreamErr := false, false
	var readErr error
	for ev, err := range llm.ReadEvents(resp.Body) {
		if err != nil {
			readErr = err
			break
		}
		content, end, isErr := x.dialect.observe(x, ev.Data)
		upstreamErr = upstreamErr || isErr
		if content {
			x.contentChunks++
			if x.ttft == 0 {
				now := x.p.now()
				x.ttft = now.Sub(x.start)
				t.metrics.ttft.Observe(now.Sub(attemptStart).Seconds())
			}
		}
		if !x.committed {
			x.committed = true
			if err := x.sink.Begin(Head{Status: http.StatusOK, Stream: true}); err != nil {
				x.gone = true
				break
			}
		}
		if err := x.sink.Event(ev); err != nil {
			x.gone = true
			break
		}
		if end {
			sawEnd = !isErr
			break
		}
	}
	if !sawEnd && x.haveUsage && x.usage.CompletionTokens < x.contentChunks {
		// Cut after a partial usage report (Anthropic's message_start):
		// at least one token per content event received.
		x.usage.CompletionTokens = x.contentChunks
		x.usage.TotalTokens = x.usage.PromptTokens + x.usage.CompletionTokens
	}
	return x.endStream(t, sawEnd, upstreamErr, readErr)
}
