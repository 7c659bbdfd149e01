package proxy

import (
	"net/http"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// relayStream forwards an SSE answer event by event, flushing after each,
// and observes usage on the side. The client's status line is written with
// the first event, so a stream that fails before any event can still fall
// back. After that, failures end the stream with an error frame and no
// [DONE].
func (x *exchange) relayStream(t *target, resp *llm.Response, attemptStart time.Time) (*gateway.Error, bool) {
	rc := http.NewResponseController(x.w)
	buf := make([]byte, 0, 2048)
	sawDone, upstreamErr := false, false
	var readErr error
	for ev, err := range llm.ReadEvents(resp.Body) {
		if err != nil {
			readErr = err
			break
		}
		if ev.Data == llm.Done {
			sawDone = true
		} else {
			forward, isErr, content := x.inspect(ev.Data)
			upstreamErr = upstreamErr || isErr
			if content && x.ttft == 0 {
				now := x.p.now()
				x.ttft = now.Sub(x.start)
				t.metrics.ttft.Observe(now.Sub(attemptStart).Seconds())
			}
			if !forward {
				continue
			}
		}
		if !x.committed {
			h := x.w.Header()
			h.Set("Content-Type", "text/event-stream")
			h.Set("Cache-Control", "no-cache")
			h.Set("X-Accel-Buffering", "no")
			x.w.WriteHeader(http.StatusOK)
			x.committed = true
		}
		buf = llm.AppendEvent(buf[:0], ev.Type, ev.Data)
		if _, err := x.w.Write(buf); err != nil {
			x.gone = true
			break
		}
		if err := rc.Flush(); err != nil {
			x.gone = true
			break
		}
		if sawDone {
			break
		}
	}

	if !x.committed {
		if readErr != nil {
			return transportError(readErr), true
		}
		return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream sent an empty stream."}, true
	}
	switch {
	case x.gone || x.ctx.Err() != nil:
		x.status = gateway.UsageCanceled
	case sawDone:
		x.status = gateway.UsageOK
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
		x.status, x.errCode = gateway.UsageIncomplete, gerr.Code
		x.p.log.WarnContext(x.ctx, "upstream stream cut", "model", t.name, "provider", t.provider.Name(), "code", gerr.Code, "err", gerr.Err)
		typ := "upstream_error"
		if gerr.Kind == gateway.KindUnavailable {
			typ = "unavailable_error"
		}
		buf = llm.AppendEvent(buf[:0], "", string(llm.ErrorEventData(typ, gerr.Code, gerr.Message)))
		if _, err := x.w.Write(buf); err == nil {
			_ = rc.Flush()
		}
	}
	return nil, false
}

// inspect reads one chunk's usage and content. forward is false for the
// usage-only chunk the gateway asked for on behalf of a client that did
// not; isErr marks an upstream error event; content marks a chunk that
// carries generated text or tool calls.
func (x *exchange) inspect(data string) (forward, isErr, content bool) {
	var choices, usage gjson.Result
	gjson.Parse(data).ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "choices":
			choices = value
		case "usage":
			usage = value
		case "error":
			isErr = true
		}
		return true
	})
	if usage.IsObject() {
		x.usage.PromptTokens = usage.Get("prompt_tokens").Int()
		x.usage.CompletionTokens = usage.Get("completion_tokens").Int()
		x.usage.TotalTokens = usage.Get("total_tokens").Int()
		x.haveUsage = true
	}
	first := choices.Get("0.delta")
	if first.Exists() {
		for _, f := range [...]string{"content", "reasoning_content", "reasoning", "refusal"} {
			if v := first.Get(f); v.Type == gjson.String && v.Str != "" {
				content = true
				break
			}
		}
		if !content && first.Get("tool_calls").IsArray() {
			content = true
		}
	}
	if content {
		x.contentChunks++
	}
	emptyChoices := !choices.Get("0").Exists()
	forward = !(usage.IsObject() && emptyChoices && !x.cr.wantsUsage)
	return forward, isErr, content
}
