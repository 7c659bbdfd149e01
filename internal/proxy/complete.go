package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// CompleteRequest is a chat completion asked for by Tollgate itself (the
// conversations API) rather than relayed for a client.
type CompleteRequest struct {
	Principal *gateway.Principal
	Model     string
	Messages  []llm.Message
	// RequestID is recorded with the usage and forwarded upstream.
	RequestID string
	// OnDelta, when set, receives each piece of generated text as it
	// arrives, in the caller's goroutine.
	OnDelta func(delta string)
}

// Result is the outcome of Complete.
type Result struct {
	Content string
	// ServedModel is the configured model that answered (differs from the
	// requested one after a fallback).
	ServedModel string
	Usage       llm.Usage
	// Status is UsageOK for a whole answer; UsageIncomplete when the
	// stream was cut (Err says why) and UsageCanceled when ctx ended
	// after the answer began. Content then holds the partial text.
	Status gateway.UsageStatus
	// Err is the failure that cut an answer that had begun, else nil.
	Err *gateway.Error
}

// Complete runs a chat completion through the same routing, fallbacks,
// streaming, usage recording and token accounting as ChatCompletions, and
// returns the assistant text instead of writing OpenAI bytes. The upstream
// is always asked to stream, so OnDelta sees text as it arrives.
//
// It returns a *gateway.Error when no answer began: NotFound
// (model_not_found), Upstream, Unavailable or UpstreamTimeout as
// ChatCompletions does, or ctx's error when ctx ended first. Once the
// answer began, failures are reported in Result.Status and Result.Err.
func (p *Proxy) Complete(ctx context.Context, req CompleteRequest) (Result, error) {
	start := p.now()
	t, ok := p.targets[req.Model]
	if !ok {
		return Result{}, &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model",
			Message: fmt.Sprintf("The model %q does not exist.", req.Model)}
	}
	msgs := req.Messages
	if msgs == nil {
		msgs = []llm.Message{}
	}
	body, err := json.Marshal(struct {
		Model    string        `json:"model"`
		Messages []llm.Message `json:"messages"`
		Stream   bool          `json:"stream"`
	}{req.Model, msgs, true})
	if err != nil {
		return Result{}, gateway.Internal("complete: encode request", err)
	}
	cr, err := parseChatRequest(body, nil)
	if err != nil {
		return Result{}, gateway.Internal("complete: parse request", err)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", nil)
	if err != nil {
		return Result{}, gateway.Internal("complete: request", err)
	}
	if req.RequestID != "" {
		r.Header.Set("X-Request-Id", req.RequestID)
	}
	cw := &collector{ctx: ctx, header: http.Header{}, onDelta: req.OnDelta}
	x := &exchange{p: p, w: cw, r: r, ctx: ctx, cr: cr, body: body, principal: req.Principal, start: start}
	if gerr := x.run(t); gerr != nil {
		return Result{}, gerr
	}
	if !x.committed {
		// The client went away before the answer began.
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		return Result{}, context.Canceled
	}
	res := Result{Content: cw.content.String(), ServedModel: x.served.name, Usage: x.usage, Status: x.status}
	res.Usage.TotalTokens = res.Usage.PromptTokens + res.Usage.CompletionTokens
	if res.Status == gateway.UsageIncomplete {
		res.Err = cw.err
		if res.Err == nil {
			res.Err = &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream stream ended before completion."}
		}
	}
	return res, nil
}

// collector is the http.ResponseWriter Complete hands the exchange: it
// reads back the SSE events relayStream writes (one whole event per Write)
// and keeps the text.
type collector struct {
	ctx     context.Context
	header  http.Header
	onDelta func(string)
	content bytes.Buffer
	err     *gateway.Error
}

func (c *collector) Header() http.Header { return c.header }
func (c *collector) WriteHeader(int)     {}
func (c *collector) Flush()              {}

func (c *collector) Write(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	for ev, err := range llm.ReadEvents(bytes.NewReader(b)) {
		if err != nil || ev.Data == llm.Done {
			break
		}
		doc := gjson.Parse(ev.Data)
		if e := doc.Get("error"); e.Exists() {
			msg := e.Get("message").String()
			if msg == "" {
				msg = "The upstream reported an error."
			}
			code := e.Get("code").String()
			kind := gateway.KindUpstream
			if code == "upstream_unavailable" {
				kind = gateway.KindUnavailable
			} else if code == "upstream_timeout" {
				kind = gateway.KindUpstreamTimeout
			} else {
				code = "upstream_error"
			}
			c.err = &gateway.Error{Kind: kind, Code: code, Message: msg}
			continue
		}
		if d := doc.Get("choices.0.delta.content"); d.Type == gjson.String && d.Str != "" {
			c.content.WriteString(d.Str)
			if c.onDelta != nil {
				c.onDelta(d.Str)
			}
		}
	}
	return len(b), nil
}
