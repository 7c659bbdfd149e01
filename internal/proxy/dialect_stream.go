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
	if !x.committed {
		if readErr != nil {
			return transportError(readErr), true
		}
		return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream sent an empty stream."}, true
	}
	switch {
	case x.gone:
		x.status = gateway.UsageCanceled
	case sawEnd:
		x.status = gateway.UsageOK
	case gateway.ShuttingDown(x.ctx):
		shut := gateway.ShutdownError()
		x.status, x.errCode, x.cut = gateway.UsageIncomplete, shut.Code, shut
		x.sink.Fail(shut)
	case x.ctx.Err() != nil:
		x.status = gateway.UsageCanceled
	case upstreamErr && readErr == nil:
		x.status, x.errCode = gateway.UsageIncomplete, "upstream_error"
	default:
		var gerr *gateway.Error
		if readErr != nil {
			gerr = transportError(readErr)
		} else {
			gerr = &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream stream ended before completion."}
		}
		x.status, x.errCode, x.cut = gateway.UsageIncomplete, gerr.Code, gerr
		x.p.log.WarnContext(x.ctx, "upstream stream cut", "model", t.name, "provider", t.provider.Name(), "code", gerr.Code, "err", gerr.Err)
		x.sink.Fail(gerr)
	}
	return nil, false
}
