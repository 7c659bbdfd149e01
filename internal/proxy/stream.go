package proxy

import (
	"net/http"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// relayStream forwards an SSE answer event by event to the sink and
// observes usage on the side. Events come from llm.ScanEvents, so each
// carries the upstream's bytes (Raw) for the sink to write unchanged; the
// chunk's JSON is only looked at (inspect), never re-encoded. The sink begins with the first event, so a
// stream that fails before any event can still fall back. After that,
// failures end the answer through Sink.Fail (no [DONE]).
func (x *exchange) relayStream(t *target, resp *llm.Response, attemptStart time.Time) (*gateway.Error, bool) {
	sawDone, upstreamErr := false, false
	var readErr error
	for ev, err := range llm.ScanEvents(resp.Body) {
		if err != nil {
			readErr = err
			break
		}
		var delta string
		if ev.Data == llm.Done {
			sawDone = true
		} else {
			forward, isErr, content, text := x.inspect(ev.Data)
			upstreamErr = upstreamErr || isErr
			if content && x.ttft == 0 {
				now := x.p.now()
				x.ttft = now.Sub(x.start)
				t.metrics.ttft.Observe(now.Sub(attemptStart).Seconds())
			}
			if !forward {
				continue
			}
			delta = text
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
		if delta != "" {
			x.sink.Delta(delta)
		}
		if sawDone {
			break
		}
	}

	return x.endStream(t, sawDone, upstreamErr, readErr)
}

// endStream settles a relayed stream once the upstream stopped sending:
// an attempt that never committed a byte is retryable (true) with its
// error; otherwise the usage status follows from how it ended (the end
// event seen, the client gone, shutdown, the upstream's own error event,
// or a cut, which the sink reports to the client). Both the chat stream
// and the dialect streams (/v1/responses, /v1/messages) end here.
func (x *exchange) endStream(t *target, sawEnd, upstreamErr bool, readErr error) (*gateway.Error, bool) {
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
		// The server's shutdown deadline cut the stream: the client gets
		// a server_shutting_down frame, the request counts as incomplete.
		shut := gateway.ShutdownError()
		x.status, x.errCode, x.cut = gateway.UsageIncomplete, shut.Code, shut
		x.sink.Fail(shut)
	case x.ctx.Err() != nil:
		x.status = gateway.UsageCanceled
	case upstreamErr && readErr == nil:
		// The upstream's own error event was forwarded and the stream ended.
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

// inspect reads one chunk's usage and content. forward is false for the
// usage-only chunk the gateway asked for on behalf of a client that did
// not; isErr marks an upstream error event; content marks a chunk that
// carries generated text or tool calls. When the exchange wants deltas,
// text is the chunk's generated text, and an upstream error event's
// message becomes x.cut.
func (x *exchange) inspect(data string) (forward, isErr, content bool, text string) {
	var choices, usage, upErr gjson.Result
	gjson.Parse(data).ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "choices":
			choices = value
		case "usage":
			usage = value
		case "error":
			isErr, upErr = true, value
		}
		return true
	})
	if isErr && x.deltas {
		msg := upErr.Get("message").String()
		if msg == "" {
			msg = "The upstream reported an error."
		}
		x.cut = &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: msg}
	}
	if usage.IsObject() {
		x.usage.PromptTokens = usage.Get("prompt_tokens").Int()
		x.usage.CompletionTokens = usage.Get("completion_tokens").Int()
		x.usage.TotalTokens = usage.Get("total_tokens").Int()
		x.haveUsage = true
	}
	first := choices.Get("0.delta")
	if first.Exists() {
		for i, f := range [...]string{"content", "reasoning_content", "reasoning", "refusal"} {
			if v := first.Get(f); v.Type == gjson.String && v.Str != "" {
				content = true
				if i == 0 && x.deltas {
					text = v.Str
				}
				break
			}
		}
		if !content && first.Get("tool_calls").IsArray() {
			content = true
		}
	}
	if !first.Exists() {
		// A legacy completion chunk carries its text in choices[0].text.
		if v := choices.Get("0.text"); v.Type == gjson.String && v.Str != "" {
			content = true
		}
	}
	if content {
		x.contentChunks++
	}
	emptyChoices := !choices.Get("0").Exists()
	forward = !(usage.IsObject() && emptyChoices && !x.cr.wantsUsage)
	return forward, isErr, content, text
}
