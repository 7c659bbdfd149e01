package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// maxUpstreamBody bounds a non-streamed upstream answer held in memory.
const maxUpstreamBody = 64 << 20

// maxErrorBody bounds how much of an upstream error answer is read.
const maxErrorBody = 64 << 10

// Meta is what the proxy needs to know of the request beside its body.
type Meta struct {
	// Principal is the caller (nil is treated as anonymous).
	Principal *gateway.Principal
	// RequestID is recorded with the usage and forwarded upstream.
	RequestID string
	// Route is the route pattern the request came in on (token budgets
	// assigned to a route are charged with it).
	Route string
	// Header holds client headers that may go upstream (trace context);
	// providers copy only the names llm.AllowedHeader accepts.
	Header http.Header
	// Keep holds the memory of the body passed with this Meta when its
	// owner reuses it (a pooled buffer): the upstream bodies are slices of
	// it, so providers hold it while they send them (llm.Body.Keep). Nil:
	// the body's memory is never reused.
	Keep llm.Retainer
}

// ChatCompletions serves POST /v1/chat/completions. body is the raw request
// body (already limited to server.max_body_bytes). It sends the answer to
// sink: the upstream's JSON, or its SSE events one by one.
//
// It returns a *gateway.Error only when the sink got nothing yet:
// Invalid (invalid_json, missing_field, invalid_field), NotFound
// (model_not_found), Upstream (upstream_error: 502, or the upstream's own
// 4xx status and message), Unavailable (upstream_unavailable) or
// UpstreamTimeout (upstream_timeout), or Unavailable
// (server_shutting_down) when the server's shutdown cut it. When ctx ended
// otherwise before the answer began it returns nil: there is no one to
// answer. Once the answer began,
// failures go to sink.Fail and nil is returned. Usage is recorded for every
// request that reached a provider.
func (p *Proxy) ChatCompletions(ctx context.Context, sink Sink, body []byte, meta Meta) error {
	return p.Forward(ctx, llm.EndpointChat, sink, body, meta)
}

// Forward is ChatCompletions for any OpenAI endpoint the proxy passes
// through (llm.EndpointChat, EndpointCompletions, EndpointEmbeddings):
// the same parsing, routing, fallbacks, streaming, usage and errors. An
// embeddings request cannot stream (400 invalid_field, body.stream).
func (p *Proxy) Forward(ctx context.Context, endpoint string, sink Sink, body []byte, meta Meta) error {
	if d := dialects[endpoint]; d != nil {
		return p.forwardDialect(ctx, d, sink, body, meta)
	}
	start := p.now()
	cr, err := parseChatRequest(body, meta.Principal)
	if err != nil {
		return err
	}
	if endpoint == llm.EndpointEmbeddings && cr.stream {
		return gateway.Invalid("invalid_field", "body.stream", "Embeddings are not streamed.")
	}
	if !meta.Principal.ModelAllowed(cr.model) {
		return gateway.ModelNotAllowed(cr.model)
	}
	t, ok := p.targets[cr.model]
	if !ok {
		return &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model",
			Message: fmt.Sprintf("The model %q does not exist.", cr.model)}
	}
	if err := t.serves(endpoint); err != nil {
		return err
	}
	adm, err := p.admission(ctx, meta.Principal, t, cr.maxTokens, cr.choices, len(body))
	if err != nil {
		return err
	}
	x := &exchange{p: p, sink: sink, ctx: ctx, meta: meta, cr: cr, start: start, endpoint: endpoint, adm: adm,
		encode: func(t *target) llm.Body { return cr.upstreamBody(body, t.quotedModel, meta.Keep) }}
	return x.run(t)
}

// exchange is one chat completion in flight.
type exchange struct {
	p     *Proxy
	sink  Sink
	ctx   context.Context
	meta  Meta
	cr    *chatRequest
	start time.Time
	// endpoint is the upstream endpoint (llm.EndpointChat, ...).
	endpoint string
	// encode builds the upstream body for a target (its upstream model).
	encode func(t *target) llm.Body
	// deltas asks for Sink.Delta calls (the conversation path).
	deltas bool
	// dialect is set on the Responses and Messages routes (dialect.go).
	dialect *dialect

	committed bool // the sink began an answer: no fallback, no error return
	gone      bool // the sink's receiver left

	usage         llm.Usage
	haveUsage     bool
	contentChunks int64
	ttft          time.Duration
	// cut is why a begun answer ended early, when it did.
	cut *gateway.Error

	status  gateway.UsageStatus
	errCode string
	served  *target // the target of the last attempt

	// adm is the request's hold on its budgets and max_parallel slots:
	// record hands its settlement to the usage record and ends it (once,
	// on every path).
	adm *gateway.Admission
}

func (x *exchange) run(first *target) error {
	served := first
	var last *gateway.Error
	for i, t := range x.candidates(first) {
		served, x.served = t, t
		attemptStart := x.p.now()
		gerr, retry := x.attempt(t, attemptStart)
		if x.committed || gerr == nil {
			x.finish(t, attemptStart, http.StatusOK)
			return nil
		}
		if gateway.ShuttingDown(x.ctx) {
			// The server's shutdown deadline passed before an answer
			// began: the caller gets 503 server_shutting_down, and the
			// request is recorded as incomplete.
			shut := gateway.ShutdownError()
			x.status, x.errCode = gateway.UsageIncomplete, shut.Code
			x.finish(t, attemptStart, http.StatusServiceUnavailable)
			return shut
		}
		if x.ctx.Err() != nil {
			x.status = gateway.UsageCanceled
			x.finish(t, attemptStart, 0)
			return nil
		}
		last = gerr
		t.metrics.outcome(gerr.Code)
		x.p.log.WarnContext(x.ctx, "upstream attempt failed", "model", t.name, "provider", t.provider.Name(),
			"code", gerr.Code, "status", gateway.ToWire(gerr).Status, "err", gerr.Err)
		if !retry || i == len(first.fallbacks) {
			break
		}
	}
	x.status, x.errCode = gateway.UsageError, last.Code
	x.record(served, gateway.ToWire(last).Status)
	return last
}

func (x *exchange) candidates(first *target) []*target {
	if len(first.fallbacks) == 0 {
		return []*target{first}
	}
	ep := x.endpoint
	if ep == "" {
		ep = llm.EndpointChat
	}
	out := []*target{first}
	for _, f := range first.fallbacks {
		if f.serves(ep) == nil {
			out = append(out, f) // a fallback that cannot serve the route is skipped
		}
	}
	return out
}

// attempt sends the request to t. It returns (nil, false) when a response
// was written; otherwise the error and whether a fallback may be tried.
func (x *exchange) attempt(t *target, attemptStart time.Time) (*gateway.Error, bool) {
	x.usage, x.haveUsage, x.contentChunks, x.ttft = llm.Usage{}, false, 0, 0
	req := &llm.Request{Endpoint: x.endpoint, Body: x.encode(t), Stream: x.cr.stream, Header: x.meta.Header}
	resp, err := t.provider.Send(x.ctx, req)
	if ge, ok := gateway.AsError(err); ok {
		// A built-in provider refused the request itself: the client's
		// mistake, answered as is, and no other provider is tried.
		return ge, false
	}
	if err != nil {
		return transportError(err), true
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
		return upstreamStatusError(resp), retry
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		// A redirect (providers never follow one: the request carries the
		// upstream's credential) or another answer that is not a result.
		return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error",
			Message: fmt.Sprintf("The upstream answered with status %d instead of a result.", resp.StatusCode),
			Err:     fmt.Errorf("upstream status %d (Location %q)", resp.StatusCode, resp.Header.Get("Location"))}, true
	}
	if x.cr.stream && x.dialect != nil {
		return x.relayDialectStream(t, resp, attemptStart)
	}
	if x.cr.stream {
		return x.relayStream(t, resp, attemptStart)
	}
	return x.relayWhole(resp)
}

// relayWhole forwards a non-streamed answer byte for byte.
func (x *exchange) relayWhole(resp *llm.Response) (*gateway.Error, bool) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody+1))
	if err != nil {
		return transportError(err), true
	}
	if len(b) > maxUpstreamBody {
		return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream answer is too large.",
			Err: fmt.Errorf("upstream body over %d bytes", maxUpstreamBody)}, false
	}
	x.usage, x.haveUsage = llm.UsageOf(b)
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	x.committed = true
	x.ttft = x.p.now().Sub(x.start)
	if err := x.sink.Begin(Head{Status: resp.StatusCode, ContentType: ct}); err != nil {
		x.gone = true
		x.status = gateway.UsageCanceled
		return nil, false
	}
	if err := x.sink.Body(b); err != nil {
		x.gone = true
		x.status = gateway.UsageCanceled
		return nil, false
	}
	x.status = gateway.UsageOK
	return nil, false
}

// finish records a request that got an answer (or whose client left).
func (x *exchange) finish(t *target, attemptStart time.Time, httpStatus int) {
	if x.status == "" {
		x.status = gateway.UsageOK
	}
	if !x.haveUsage {
		// No usage from upstream (a cut stream): count the content chunks
		// received, one token each as OpenAI-compatible servers stream.
		x.usage.CompletionTokens = x.contentChunks
	}
	m := t.metrics
	outcome := string(x.status)
	if x.errCode != "" {
		outcome = x.errCode
	}
	m.outcome(outcome)
	m.latency.Observe(x.p.now().Sub(attemptStart).Seconds())
	m.promptTokens.Add(float64(x.usage.PromptTokens))
	m.complTokens.Add(float64(x.usage.CompletionTokens))
	if x.status == gateway.UsageCanceled && !x.committed {
		httpStatus = 0
	}
	x.record(t, httpStatus)
}

func (x *exchange) record(t *target, httpStatus int) {
	cost := t.price.Cost(x.usage.PromptTokens, x.usage.CompletionTokens)
	tokens := x.usage.PromptTokens + x.usage.CompletionTokens
	adm := x.adm
	x.adm = nil
	if adm != nil || (x.p.tokens != nil && tokens > 0) {
		// Charging, settling and releasing outlive a client that left.
		ctx := context.WithoutCancel(x.ctx)
		defer adm.End(ctx)
		x.p.chargeTokens(ctx, x.meta.Principal, x.meta.Route, tokens)
		if x.p.usage == nil {
			adm.Settle(ctx, tokens, cost)
			return
		}
	}
	if x.p.usage == nil {
		return
	}
	rec := gateway.UsageRecord{
		CreatedAt:        x.start.UTC(),
		RequestID:        x.meta.RequestID,
		Model:            x.cr.model,
		ServedModel:      t.name,
		Provider:         t.provider.Name(),
		PromptTokens:     x.usage.PromptTokens,
		CompletionTokens: x.usage.CompletionTokens,
		Cost:             cost,
		Latency:          x.p.now().Sub(x.start),
		TTFT:             x.ttft,
		Status:           x.status,
		HTTPStatus:       httpStatus,
		ErrorCode:        x.errCode,
	}
	if adm != nil {
		rec.Settlement = adm.Settlement
	}
	if pr := x.meta.Principal; pr != nil {
		o := pr.Owner()
		rec.UserID, rec.KeyID, rec.EndUserID = o.UserID, pr.KeyID, o.EndUserID
	}
	x.p.usage.Record(rec)
}

// transportError maps a failure to reach or read an upstream.
func transportError(err error) *gateway.Error {
	switch llm.TransportKind(err) {
	case llm.ErrConnect:
		return &gateway.Error{Kind: gateway.KindUnavailable, Code: "upstream_unavailable", Message: "The upstream is unreachable.", Err: err}
	case llm.ErrTimeout:
		return &gateway.Error{Kind: gateway.KindUpstreamTimeout, Code: "upstream_timeout", Message: "The upstream did not answer in time.", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &gateway.Error{Kind: gateway.KindUpstreamTimeout, Code: "upstream_timeout", Message: "The upstream did not answer in time.", Err: err}
	}
	return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: "The upstream connection failed.", Err: err}
}

// upstreamStatusError maps an upstream's HTTP error answer: a 4xx keeps its
// status and message; a 5xx becomes 502.
func upstreamStatusError(resp *llm.Response) *gateway.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := upstreamMessage(b)
	cause := fmt.Errorf("upstream status %d: %s", resp.StatusCode, msg)
	if resp.StatusCode >= 500 {
		return &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error",
			Message: fmt.Sprintf("The upstream failed (status %d).", resp.StatusCode), Err: cause}
	}
	if msg == "" {
		msg = fmt.Sprintf("The upstream rejected the request (status %d).", resp.StatusCode)
	}
	e := &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Status: resp.StatusCode, Message: msg, Err: cause}
	if resp.StatusCode == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			e.RetryAfter = s
		}
	}
	return e
}

// upstreamMessage finds the message in an upstream error body: OpenAI's
// error.message, a bare error string, message, or FastAPI's detail.
func upstreamMessage(b []byte) string {
	for _, path := range []string{"error.message", "error", "message", "detail"} {
		if r := gjson.GetBytes(b, path); r.Type == gjson.String && r.Str != "" {
			return r.Str
		}
	}
	return ""
}
