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

// ChatCompletions serves POST /v1/chat/completions. body is the raw request
// body (already limited to server.max_body_bytes); principal is the
// request's principal (nil is treated as anonymous). It writes the whole
// response to w: the upstream's JSON, or SSE flushed event by event.
//
// It returns a *gateway.Error only when nothing was written yet:
// Invalid (invalid_json, missing_field, invalid_field), NotFound
// (model_not_found), Upstream (upstream_error: 502, or the upstream's own
// 4xx status and message), Unavailable (upstream_unavailable) or
// UpstreamTimeout (upstream_timeout). When the client went away before
// anything was written it returns nil: there is no one to answer. Once
// streaming began, failures end the stream with an error frame and nil is
// returned. Usage is recorded for every request that reached a provider.
func (p *Proxy) ChatCompletions(w http.ResponseWriter, r *http.Request, body []byte, principal *gateway.Principal) error {
	start := p.now()
	cr, err := parseChatRequest(body, principal)
	if err != nil {
		return err
	}
	t, ok := p.targets[cr.model]
	if !ok {
		return &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model",
			Message: fmt.Sprintf("The model %q does not exist.", cr.model)}
	}
	x := &exchange{p: p, w: w, r: r, ctx: r.Context(), cr: cr, body: body, principal: principal, start: start}
	return x.run(t)
}

// exchange is one chat completion in flight.
type exchange struct {
	p         *Proxy
	w         http.ResponseWriter
	r         *http.Request
	ctx       context.Context
	cr        *chatRequest
	body      []byte
	principal *gateway.Principal
	start     time.Time

	committed bool // bytes were written to w: no fallback, no error return
	gone      bool // a write to the client failed

	usage         llm.Usage
	haveUsage     bool
	contentChunks int64
	ttft          time.Duration

	status  gateway.UsageStatus
	errCode string
	served  *target // the target of the last attempt
}

func (x *exchange) run(first *target) error {
	header := forwardHeaders(x.w, x.r)
	served := first
	var last *gateway.Error
	for i, t := range x.candidates(first) {
		served, x.served = t, t
		attemptStart := x.p.now()
		gerr, retry := x.attempt(t, header, attemptStart)
		if x.committed || gerr == nil {
			x.finish(t, attemptStart, http.StatusOK)
			return nil
		}
		if x.ctx.Err() != nil {
			x.status = gateway.UsageCanceled
			x.finish(t, attemptStart, 0)
			return nil
		}
		last = gerr
		t.metrics.outcome(gerr.Code)
		x.p.log.WarnContext(x.ctx, "upstream attempt failed", "model", t.name, "provider", t.provider.Name(),
			"code", gerr.Code, "status", statusOf(gerr), "err", gerr.Err)
		if !retry || i == len(first.fallbacks) {
			break
		}
	}
	x.status, x.errCode = gateway.UsageError, last.Code
	x.record(served, statusOf(last))
	return last
}

func (x *exchange) candidates(first *target) []*target {
	if len(first.fallbacks) == 0 {
		return []*target{first}
	}
	return append([]*target{first}, first.fallbacks...)
}

// attempt sends the request to t. It returns (nil, false) when a response
// was written; otherwise the error and whether a fallback may be tried.
func (x *exchange) attempt(t *target, header http.Header, attemptStart time.Time) (*gateway.Error, bool) {
	x.usage, x.haveUsage, x.contentChunks, x.ttft = llm.Usage{}, false, 0, 0
	req := &llm.Request{Body: x.cr.upstreamBody(x.body, t.quotedModel), Stream: x.cr.stream, Header: header}
	resp, err := t.provider.Send(x.ctx, req)
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
	x.w.Header().Set("Content-Type", ct)
	x.w.WriteHeader(resp.StatusCode)
	x.committed = true
	x.ttft = x.p.now().Sub(x.start)
	if _, err := x.w.Write(b); err != nil {
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
	x.p.chargeTokens(context.WithoutCancel(x.r.Context()), x.principal, x.r.Pattern, x.usage.PromptTokens+x.usage.CompletionTokens)
	if x.p.usage == nil {
		return
	}
	rec := gateway.UsageRecord{
		CreatedAt:        x.start.UTC(),
		RequestID:        requestID(x.w, x.r),
		Model:            x.cr.model,
		ServedModel:      t.name,
		Provider:         t.provider.Name(),
		PromptTokens:     x.usage.PromptTokens,
		CompletionTokens: x.usage.CompletionTokens,
		Latency:          x.p.now().Sub(x.start),
		TTFT:             x.ttft,
		Status:           x.status,
		HTTPStatus:       httpStatus,
		ErrorCode:        x.errCode,
	}
	if pr := x.principal; pr != nil {
		o := pr.Owner()
		rec.UserID, rec.KeyID, rec.EndUserID = o.UserID, pr.KeyID, o.EndUserID
	}
	x.p.usage.Record(rec)
}

func requestID(w http.ResponseWriter, r *http.Request) string {
	if id := w.Header().Get("X-Request-Id"); id != "" {
		return id
	}
	return r.Header.Get("X-Request-Id")
}

// forwardHeaders picks the client headers that may go upstream: the
// request id (as the gateway answers it) and trace context.
func forwardHeaders(w http.ResponseWriter, r *http.Request) http.Header {
	h := http.Header{}
	if id := requestID(w, r); id != "" {
		h.Set("X-Request-Id", id)
	}
	for _, k := range []string{"Traceparent", "Tracestate"} {
		if v := r.Header.Get(k); v != "" && llm.AllowedHeader(k) {
			h.Set(k, v)
		}
	}
	return h
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

func statusOf(e *gateway.Error) int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Kind {
	case gateway.KindUnavailable:
		return http.StatusServiceUnavailable
	case gateway.KindUpstreamTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
