package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

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
	// Route is the route pattern that asked (token budgets assigned to a
	// route are charged with it).
	Route string
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
	if !req.Principal.ModelAllowed(req.Model) {
		return Result{}, gateway.ModelNotAllowed(req.Model)
	}
	t, ok := p.targets[req.Model]
	if !ok {
		return Result{}, &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model",
			Message: fmt.Sprintf("The model %q does not exist.", req.Model)}
	}
	if err := t.serves(llm.EndpointChat); err != nil {
		return Result{}, err
	}
	msgs := req.Messages
	if msgs == nil {
		msgs = []llm.Message{}
	}
	// The body is encoded once per attempt, for that target's upstream
	// model; nothing parses it back.
	encode := func(t *target) llm.Body {
		b, _ := json.Marshal(upstreamRequest{Model: t.upstreamModel, Messages: msgs, Stream: true,
			StreamOptions: streamOptions{IncludeUsage: true}})
		return llm.BytesBody(b)
	}
	size := 64
	for _, m := range msgs {
		size += len(m.Content) + 32
	}
	adm, err := p.admission(ctx, req.Principal, t, 0, 1, size)
	if err != nil {
		return Result{}, err
	}
	ts := &textSink{onDelta: req.OnDelta}
	x := &exchange{p: p, sink: ts, ctx: ctx, adm: adm, meta: Meta{Principal: req.Principal, RequestID: req.RequestID, Route: req.Route},
		cr: &chatRequest{model: req.Model, stream: true}, start: start, encode: encode, deltas: true}
	if req.RequestID != "" {
		x.meta.Header = http.Header{"X-Request-Id": {req.RequestID}}
	}
	if gerr := x.run(t); gerr != nil {
		return Result{}, gerr
	}
	if !x.committed {
		// The caller went away before the answer began.
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		return Result{}, context.Canceled
	}
	res := Result{Content: ts.content.String(), ServedModel: x.served.name, Usage: x.usage, Status: x.status}
	res.Usage.TotalTokens = res.Usage.PromptTokens + res.Usage.CompletionTokens
	if res.Status == gateway.UsageIncomplete {
		res.Err = x.cut
		if res.Err == nil {
			res.Err = &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream stream ended before completion."}
		}
	}
	return res, nil
}

// upstreamRequest is the body Complete sends: always a stream, with usage.
type upstreamRequest struct {
	Model         string        `json:"model"`
	Messages      []llm.Message `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions streamOptions `json:"stream_options"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// textSink is Complete's sink: it keeps the generated text and hands each
// delta to the caller. It never refuses: the caller's context is what ends
// an exchange early.
type textSink struct {
	onDelta func(string)
	content strings.Builder
}

func (s *textSink) Begin(Head) error      { return nil }
func (s *textSink) Event(llm.Event) error { return nil }
func (s *textSink) Body([]byte) error     { return nil }
func (s *textSink) Fail(*gateway.Error)   {}
func (s *textSink) Delta(text string) {
	s.content.WriteString(text)
	if s.onDelta != nil {
		s.onDelta(text)
	}
}
