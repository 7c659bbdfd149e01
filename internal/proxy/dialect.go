package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jsonscan"
	"github.com/tollgate/tollgate/internal/llm"
)

// dialect is a route whose protocol is not OpenAI's chat completion
// family: OpenAI's Responses API and Anthropic's Messages API. Both are
// passed through like chat completions (the body with model rewritten, the
// answer byte for byte) by the same exchange (admission, fallbacks,
// settlement, usage records); what differs is read here: the request's
// output limit, and from the stream the usage, the content events and the
// event that ends the answer.
type dialect struct {
	endpoint string
	// maxTokens is the body field that caps the output (budgets reserve it).
	maxTokens string
	// observe reads one streamed event's data: content events, the usage,
	// the event that ends the answer, an upstream error event.
	observe func(x *exchange, data string) (content, end, upstreamErr bool)
}

var dialects = map[string]*dialect{
	llm.EndpointResponses: {endpoint: llm.EndpointResponses, maxTokens: "max_output_tokens", observe: observeResponses},
	llm.EndpointMessages:  {endpoint: llm.EndpointMessages, maxTokens: "max_tokens", observe: observeMessages},
}

// routeOf is the client-facing route of an endpoint.
func routeOf(endpoint string) string { return "/v1/" + endpoint }

// serves returns nil when t's provider serves endpoint, else 400
// invalid_field (body.model) naming the routes the model has.
func (t *target) serves(endpoint string) error {
	eps := t.endpoints
	if slices.Contains(eps, endpoint) {
		return nil
	}
	routes := make([]string, len(eps))
	for i, e := range eps {
		routes[i] = routeOf(e)
	}
	return gateway.Invalid("invalid_field", "body.model", fmt.Sprintf("The model %q is not served on %s; its routes are %s.",
		t.name, routeOf(endpoint), strings.Join(routes, ", ")))
}

// dialectRequest is what the proxy reads of a Responses or Messages body.
type dialectRequest struct {
	chatRequest
	// previousID is the Responses API's previous_response_id ("": none).
	previousID string
}

// parseDialectRequest validates body like parseChatRequest (jsonscan
// first; model and stream matched case-insensitively, a duplicate is 400
// invalid_json; user and user_id refused for app credentials) and reads
// d's output limit. On the Responses API, previous_response_id must be a
// string, and "conversation" (an upstream conversation object, which
// Tollgate cannot scope to a caller) is refused with 400 invalid_field.
// Errors are *gateway.Error of kind Invalid.
func parseDialectRequest(body []byte, principal *gateway.Principal, d *dialect) (*dialectRequest, error) {
	if err := jsonscan.Check(body, jsonscan.Options{MaxDepth: jsonscan.MaxDepthV1}); err != nil {
		return nil, err
	}
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !doc.IsObject() {
		return nil, gateway.Invalid("invalid_json", "", "Request body must be a JSON object.")
	}
	dr := &dialectRequest{chatRequest: chatRequest{objStart: doc.Index}}
	var model, stream, prev gjson.Result
	var err error
	appCredential := principal != nil && principal.EndUserMode
	responses := d.endpoint == llm.EndpointResponses
	doc.ForEach(func(key, value gjson.Result) bool {
		name := key.String()
		var slot *gjson.Result
		switch {
		case strings.EqualFold(name, "model"):
			slot = &model
		case strings.EqualFold(name, "stream"):
			slot = &stream
		case responses && strings.EqualFold(name, "previous_response_id"):
			slot = &prev
		case responses && strings.EqualFold(name, "conversation"):
			err = gateway.Invalid("invalid_field", "body."+name, "Upstream conversation objects are not served by this gateway; use previous_response_id.")
			return false
		case name == d.maxTokens:
			if value.Type == gjson.Number && value.Int() > dr.maxTokens {
				dr.maxTokens = value.Int()
			}
			return true
		case appCredential && (strings.EqualFold(name, "user") || strings.EqualFold(name, "user_id")):
			err = gateway.Invalid("invalid_field", "body."+name, "App credentials name the end user in the end-user header, not in \""+name+"\".")
			return false
		default:
			return true
		}
		if slot.Exists() {
			err = gateway.Invalid("invalid_json", "body."+name, "Duplicate key \""+name+"\" in request body.")
			return false
		}
		*slot = value
		return true
	})
	if err != nil {
		return nil, err
	}
	if err := checkModelAndStream(model, stream); err != nil {
		return nil, err
	}
	dr.model = strings.Clone(model.Str)
	dr.modelStart, dr.modEnd = model.Index, model.Index+len(model.Raw)
	dr.stream = stream.Type == gjson.True
	switch prev.Type {
	case gjson.Null:
	case gjson.String:
		dr.previousID = strings.Clone(prev.Str)
	default:
		return nil, gateway.Invalid("invalid_field", "body.previous_response_id", "previous_response_id must be a string.")
	}
	return dr, nil
}

// upstreamBody is body with model's value replaced by quotedModel.
func (dr *dialectRequest) upstreamBody(body, quotedModel []byte, keep llm.Retainer) llm.Body {
	return splice(body, []edit{{dr.modelStart, dr.modEnd, quotedModel}}, keep)
}

// forwardDialect is Forward for the Responses and Messages routes.
func (p *Proxy) forwardDialect(ctx context.Context, d *dialect, sink Sink, body []byte, meta Meta) error {
	start := p.now()
	dr, err := parseDialectRequest(body, meta.Principal, d)
	if err != nil {
		return err
	}
	if !meta.Principal.ModelAllowed(dr.model) {
		return gateway.ModelNotAllowed(dr.model)
	}
	t, ok := p.targets[dr.model]
	if !ok {
		return &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model",
			Message: fmt.Sprintf("The model %q does not exist.", dr.model)}
	}
	if err := t.serves(d.endpoint); err != nil {
		return err
	}
	if dr.previousID != "" {
		_, ok, err := p.responses.lookup(ctx, dr.previousID, meta.Principal)
		if err != nil {
			return err
		}
		if !ok {
			return &gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Param: "body.previous_response_id",
				Message: fmt.Sprintf("No response with id %q exists.", dr.previousID)}
		}
	}
	adm, err := p.admission(ctx, meta.Principal, t, dr.maxTokens, 1, len(body))
	if err != nil {
		return err
	}
	x := &exchange{p: p, ctx: ctx, meta: meta, cr: &dr.chatRequest, start: start, endpoint: d.endpoint, adm: adm,
		dialect: d, encode: func(t *target) llm.Body { return dr.upstreamBody(body, t.quotedModel, meta.Keep) }}
	x.sink = sink
	if d.endpoint == llm.EndpointResponses {
		x.sink = &responsesSink{Sink: sink, x: x}
	}
	return x.run(t)
}

// responsesSink registers the id of a non-streamed Responses API answer
// for its caller before the client sees it (streams register it from
// response.created in observeResponses).
type responsesSink struct {
	Sink
	x *exchange
}

func (s *responsesSink) Body(b []byte) error {
	if id := gjson.GetBytes(b, "id"); id.Type == gjson.String {
		s.x.p.responses.add(s.x.ctx, id.Str, s.x.meta.Principal, s.x.served)
	}
	return s.Sink.Body(b)
}

// observeResponses reads a Responses API event: text, refusal, reasoning
// and tool-call argument deltas are content; response.created registers
// the response id for its caller; response.completed and
// response.incomplete carry the usage and end the answer;
// response.failed and error end it as an upstream error.
func observeResponses(x *exchange, data string) (content, end, upstreamErr bool) {
	switch typ := gjson.Get(data, "type").Str; typ {
	case "response.output_text.delta", "response.refusal.delta", "response.reasoning_text.delta",
		"response.reasoning_summary_text.delta", "response.function_call_arguments.delta":
		content = gjson.Get(data, "delta").Str != ""
	case "response.created":
		if id := gjson.Get(data, "response.id"); id.Type == gjson.String {
			x.p.responses.add(x.ctx, id.Str, x.meta.Principal, x.served)
		}
	case "response.completed", "response.incomplete", "response.failed":
		if u := gjson.Get(data, "response.usage"); u.IsObject() {
			x.usage, x.haveUsage = llm.UsageFrom(u), true
		}
		end, upstreamErr = true, typ == "response.failed"
	case "error":
		end, upstreamErr = true, true
	}
	return content, end, upstreamErr
}

// observeMessages reads an Anthropic Messages event: message_start carries
// the input usage, content_block_delta the content, message_delta the
// output tokens so far (and, in newer API versions, the input again),
// message_stop ends the answer and error is an upstream error.
func observeMessages(x *exchange, data string) (content, end, upstreamErr bool) {
	switch gjson.Get(data, "type").Str {
	case "message_start":
		if u := gjson.Get(data, "message.usage"); u.IsObject() {
			x.usage, x.haveUsage = llm.UsageFrom(u), true
		}
	case "content_block_delta":
		d := gjson.Get(data, "delta")
		for _, f := range [...]string{"text", "partial_json", "thinking"} {
			if v := d.Get(f); v.Type == gjson.String && v.Str != "" {
				content = true
				break
			}
		}
	case "message_delta":
		u := gjson.Get(data, "usage")
		if !u.IsObject() {
			break
		}
		next := llm.UsageFrom(u)
		if next.PromptTokens == 0 {
			next.PromptTokens = x.usage.PromptTokens
		}
		next.TotalTokens = next.PromptTokens + next.CompletionTokens
		x.usage, x.haveUsage = next, true
	case "message_stop":
		end = true
	case "error":
		end, upstreamErr = true, true
	}
	return content, end, upstreamErr
}
