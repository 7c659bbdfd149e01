package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/proxy"
)

// ChatProxy serves the OpenAI-compatible routes; *proxy.Proxy is one.
type ChatProxy interface {
	// Forward sends the answer of an OpenAI endpoint (llm.EndpointChat,
	// EndpointCompletions, EndpointEmbeddings) to sink and returns a
	// *gateway.Error only when the sink got nothing yet.
	Forward(ctx context.Context, endpoint string, sink proxy.Sink, body []byte, meta proxy.Meta) error
	Models() []proxy.ModelInfo
	// StoredResponse serves GET and DELETE /v1/responses/{id}.
	ResponseStore
}

// responseSink writes a proxied answer through to the client: the
// upstream's bytes unchanged, each SSE event flushed as it arrives, and a
// failure after the start as an SSE error frame in the SPEC envelope.
type responseSink struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

func (s *responseSink) Begin(h proxy.Head) error {
	hdr := s.w.Header()
	if h.Stream {
		hdr.Set("Content-Type", "text/event-stream")
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("X-Accel-Buffering", "no")
	} else {
		hdr.Set("Content-Type", h.ContentType)
	}
	s.w.WriteHeader(h.Status)
	return nil
}

// Event writes the upstream's bytes for the event (key order, spacing,
// id lines and all); an event without them (not from llm.ScanEvents) is
// framed anew.
func (s *responseSink) Event(ev llm.Event) error {
	if ev.Raw != "" {
		if _, err := io.WriteString(s.w, ev.Raw); err != nil {
			return err
		}
		return s.rc.Flush()
	}
	s.buf = llm.AppendEvent(s.buf[:0], ev.Type, ev.Data)
	return s.write()
}

func (s *responseSink) Body(b []byte) error {
	_, err := s.w.Write(b)
	return err
}

func (s *responseSink) Delta(string) {}

func (s *responseSink) Fail(err *gateway.Error) {
	s.buf = AppendErrorEvent(s.buf[:0], "", err)
	_ = s.write()
}

func (s *responseSink) write() error {
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	return s.rc.Flush()
}

// forwardedHeaders are the client headers that may go upstream: trace
// context (the request id is set from the answer's own).
var forwardedHeaders = [...]string{"Traceparent", "Tracestate"}

func proxyMeta(w http.ResponseWriter, r *http.Request) proxy.Meta {
	id := w.Header().Get("X-Request-Id")
	h := http.Header{"X-Request-Id": {id}}
	for _, k := range forwardedHeaders {
		if v := r.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return proxy.Meta{Principal: gateway.PrincipalFrom(r.Context()), RequestID: id, Route: r.Pattern, Header: h}
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string        `json:"object" enum:"list"`
	Data   []ModelObject `json:"data"`
}

// ModelObject is one model of GET /v1/models.
type ModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object" enum:"model"`
	OwnedBy string `json:"owned_by"`
}

// InfoResponse is the body of GET /v1/info.
type InfoResponse struct {
	Version string            `json:"version"`
	Models  []proxy.ModelInfo `json:"models"`
}

// ChatCompletionRequest documents the fields Tollgate reads; every other
// field passes through to the upstream unchanged.
type ChatCompletionRequest struct {
	Model    string           `json:"model"`
	Messages []map[string]any `json:"messages"`
	Stream   bool             `json:"stream,omitempty"`
	_        struct{}         `json:"-" additionalProperties:"true"`
}

// CompletionRequest documents the fields Tollgate reads of a legacy
// completion; every other field passes through unchanged.
type CompletionRequest struct {
	Model  string   `json:"model"`
	Prompt any      `json:"prompt"`
	Stream bool     `json:"stream,omitempty"`
	_      struct{} `json:"-" additionalProperties:"true"`
}

// EmbeddingRequest documents the fields Tollgate reads of an embeddings
// request; every other field passes through unchanged.
type EmbeddingRequest struct {
	Model string   `json:"model"`
	Input any      `json:"input"`
	_     struct{} `json:"-" additionalProperties:"true"`
}

// OpenAIObject documents an upstream answer passed through unchanged.
type OpenAIObject struct {
	Object string   `json:"object"`
	_      struct{} `json:"-" additionalProperties:"true"`
}

// ChatCompletionResponse documents the OpenAI response (passed through).
type ChatCompletionResponse struct {
	ID      string           `json:"id"`
	Object  string           `json:"object"`
	Model   string           `json:"model"`
	Choices []map[string]any `json:"choices"`
	Usage   map[string]any   `json:"usage,omitempty"`
	_       struct{}         `json:"-" additionalProperties:"true"`
}

func (s *Server) v1Routes() {
	if s.opt.Proxy == nil {
		return
	}
	px := s.opt.Proxy
	models := px.Models()
	list := ModelList{Object: "list", Data: make([]ModelObject, len(models))}
	for i, m := range models {
		list.Data[i] = ModelObject{ID: m.ID, Object: "model", OwnedBy: m.Provider}
	}
	info := InfoResponse{Version: s.opt.Version, Models: models}
	forward := func(endpoint string) HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			sink := &responseSink{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 2048)}
			return forward(px, endpoint, sink, w, r)
		}
	}
	contributor := Requires(gateway.RoleContributor)
	s.Handle(Route{
		Method: "POST", Path: "/v1/chat/completions", Access: contributor, UserScoped: true, Admits: true,
		OperationID: "createChatCompletion", Tags: []string{"openai"},
		Summary: "OpenAI-compatible chat completion; stream: true answers with server-sent events",
		Request: ChatCompletionRequest{}, Response: ChatCompletionResponse{},
		Handler: forward(llm.EndpointChat),
	})
	s.Handle(Route{
		Method: "POST", Path: "/v1/completions", Access: contributor, UserScoped: true, Admits: true,
		OperationID: "createCompletion", Tags: []string{"openai"},
		Summary: "OpenAI-compatible (legacy) text completion, passed through to the model's provider",
		Request: CompletionRequest{}, Response: OpenAIObject{},
		Handler: forward(llm.EndpointCompletions),
	})
	s.Handle(Route{
		Method: "POST", Path: "/v1/embeddings", Access: contributor, UserScoped: true, Admits: true,
		OperationID: "createEmbedding", Tags: []string{"openai"},
		Summary: "OpenAI-compatible embeddings, passed through to the model's provider",
		Request: EmbeddingRequest{}, Response: OpenAIObject{},
		Handler: forward(llm.EndpointEmbeddings),
	})
	s.apiRoutes(px)
	byID := make(map[string]ModelObject, len(list.Data))
	for _, m := range list.Data {
		byID[m.ID] = m
	}
	s.Handle(Route{
		Method: "GET", Path: "/v1/models/{id}", Access: Requires(gateway.RoleViewer), AppCredentials: true,
		OperationID: "getModel", Tags: []string{"openai"}, Summary: "One model this gateway serves",
		Response: ModelObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			m, ok := byID[r.PathValue("id")]
			if !ok || !gateway.PrincipalFrom(r.Context()).ModelAllowed(m.ID) {
				return gateway.NotFound("model_not_found", fmt.Sprintf("The model %q does not exist.", r.PathValue("id")))
			}
			return WriteJSON(w, http.StatusOK, m)
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/v1/models", Access: Requires(gateway.RoleViewer), AppCredentials: true,
		OperationID: "listModels", Tags: []string{"openai"}, Summary: "Models this gateway serves",
		Response: ModelList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			p := gateway.PrincipalFrom(r.Context())
			if p == nil || (len(p.KeyModels) == 0 && len(p.UserModels) == 0) {
				return WriteJSON(w, http.StatusOK, list)
			}
			// allowed_models (SPEC 5.1): only the models the caller may use.
			own := ModelList{Object: "list", Data: []ModelObject{}}
			for _, m := range list.Data {
				if p.ModelAllowed(m.ID) {
					own.Data = append(own.Data, m)
				}
			}
			return WriteJSON(w, http.StatusOK, own)
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/v1/info", Access: Requires(gateway.RoleViewer), AppCredentials: true,
		OperationID: "info", Tags: []string{"openai"}, Summary: "Gateway version and model routing",
		Response: InfoResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, http.StatusOK, info)
		},
	})
}
