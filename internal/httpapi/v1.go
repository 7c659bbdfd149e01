package httpapi

import (
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
)

// ChatProxy serves the OpenAI-compatible routes; *proxy.Proxy is one.
type ChatProxy interface {
	// ChatCompletions writes the whole response and returns a
	// *gateway.Error only when nothing was written yet.
	ChatCompletions(w http.ResponseWriter, r *http.Request, body []byte, p *gateway.Principal) error
	Models() []proxy.ModelInfo
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
	s.Handle(Route{
		Method: "POST", Path: "/v1/chat/completions", Access: Requires(gateway.RoleContributor), UserScoped: true,
		OperationID: "createChatCompletion", Tags: []string{"openai"},
		Summary: "OpenAI-compatible chat completion; stream: true answers with server-sent events",
		Request: ChatCompletionRequest{}, Response: ChatCompletionResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := RequireJSON(r); err != nil {
				return err
			}
			body, err := ReadBody(r)
			if err != nil {
				return err
			}
			return px.ChatCompletions(w, r, body, gateway.PrincipalFrom(r.Context()))
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/v1/models", Access: Requires(gateway.RoleViewer), AppCredentials: true,
		OperationID: "listModels", Tags: []string{"openai"}, Summary: "Models this gateway serves",
		Response: ModelList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return WriteJSON(w, http.StatusOK, list)
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
