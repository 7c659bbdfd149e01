package httpapi

import (
	"context"
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/proxy"
)

// ResponsesRequest documents the fields Tollgate reads of an OpenAI
// Responses API request; every other field passes through unchanged.
type ResponsesRequest struct {
	Model              string   `json:"model"`
	Input              any      `json:"input"`
	Stream             bool     `json:"stream,omitempty"`
	MaxOutputTokens    int      `json:"max_output_tokens,omitempty"`
	PreviousResponseID string   `json:"previous_response_id,omitempty"`
	_                  struct{} `json:"-" additionalProperties:"true"`
}

// ResponseObject documents the Responses API's response object (passed
// through).
type ResponseObject struct {
	ID     string           `json:"id"`
	Object string           `json:"object"`
	Status string           `json:"status"`
	Output []map[string]any `json:"output"`
	Usage  map[string]any   `json:"usage,omitempty"`
	_      struct{}         `json:"-" additionalProperties:"true"`
}

// MessagesRequest documents the fields Tollgate reads of an Anthropic
// Messages API request; every other field passes through unchanged.
type MessagesRequest struct {
	Model     string           `json:"model"`
	Messages  []map[string]any `json:"messages"`
	MaxTokens int              `json:"max_tokens"`
	Stream    bool             `json:"stream,omitempty"`
	_         struct{}         `json:"-" additionalProperties:"true"`
}

// AnthropicMessage documents Anthropic's message object (passed through).
type AnthropicMessage struct {
	ID      string           `json:"id"`
	Type    string           `json:"type"`
	Role    string           `json:"role"`
	Content []map[string]any `json:"content"`
	Usage   map[string]any   `json:"usage"`
	_       struct{}         `json:"-" additionalProperties:"true"`
}

// responsesStreamSink is responseSink for /v1/responses: a failure after
// the start is the Responses API's `event: error` frame, numbered after
// the events forwarded.
type responsesStreamSink struct {
	responseSink
	seq int
}

func (s *responsesStreamSink) Event(ev llm.Event) error {
	s.seq++
	return s.responseSink.Event(ev)
}

func (s *responsesStreamSink) Fail(err *gateway.Error) {
	s.buf = AppendResponsesErrorEvent(s.buf[:0], s.seq, err)
	_ = s.write()
}

// anthropicSink is responseSink for /v1/messages: a failure after the
// start is Anthropic's `event: error` frame.
type anthropicSink struct{ responseSink }

func (s *anthropicSink) Fail(err *gateway.Error) {
	s.buf = AppendAnthropicErrorEvent(s.buf[:0], err)
	_ = s.write()
}

// ResponseStore serves the stored-response routes; *proxy.Proxy is one.
type ResponseStore interface {
	StoredResponse(ctx context.Context, method, id string, sink proxy.Sink, meta proxy.Meta) error
}

// apiRoutes registers OpenAI's Responses API and Anthropic's Messages API
// (llm-proxy.md): passed through like chat completions, with their own
// error shapes on /v1/messages.
func (s *Server) apiRoutes(px ChatProxy) {
	newSink := func(w http.ResponseWriter) responseSink {
		return responseSink{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 2048)}
	}
	post := func(endpoint string, sink func(w http.ResponseWriter) proxy.Sink) HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			return forward(px, endpoint, sink(w), w, r)
		}
	}
	contributor := Requires(gateway.RoleContributor)
	s.Handle(Route{
		Method: "POST", Path: "/v1/responses", Access: contributor, UserScoped: true, Admits: true,
		OperationID: "createResponse", Tags: []string{"openai"},
		Summary: "OpenAI Responses API, passed through to the model's provider; stream: true answers with response.* events",
		Request: ResponsesRequest{}, Response: ResponseObject{},
		Handler: post(llm.EndpointResponses, func(w http.ResponseWriter) proxy.Sink {
			return &responsesStreamSink{responseSink: newSink(w)}
		}),
	})
	stored := func(method string) HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			sink := newSink(w)
			return px.StoredResponse(r.Context(), method, r.PathValue("id"), &sink, proxyMeta(w, r))
		}
	}
	idParam := []Param{{Name: "id", In: "path", Description: "a response id this gateway answered to the caller"}}
	s.Handle(Route{
		Method: "GET", Path: "/v1/responses/{id}", Access: Requires(gateway.RoleViewer), UserScoped: true,
		OperationID: "getResponse", Tags: []string{"openai"}, Params: idParam,
		Summary:  "A stored response the caller created, from the provider that answered it (another caller's id: 404)",
		Response: ResponseObject{}, Handler: stored(http.MethodGet),
	})
	s.Handle(Route{
		Method: "DELETE", Path: "/v1/responses/{id}", Access: contributor, UserScoped: true,
		OperationID: "deleteResponse", Tags: []string{"openai"}, Params: idParam,
		Summary:  "Delete a stored response the caller created, at the provider that answered it (another caller's id: 404)",
		Response: OpenAIObject{}, Handler: stored(http.MethodDelete),
	})
	s.Handle(Route{
		Method: "POST", Path: "/v1/messages", Access: contributor, UserScoped: true, Admits: true, Errors: ErrorsAnthropic,
		OperationID: "createMessage", Tags: []string{"anthropic"},
		Summary: "Anthropic Messages API, passed through to the model's provider; errors in Anthropic's shape",
		Request: MessagesRequest{}, Response: AnthropicMessage{},
		Handler: post(llm.EndpointMessages, func(w http.ResponseWriter) proxy.Sink {
			return &anthropicSink{responseSink: newSink(w)}
		}),
	})
}
