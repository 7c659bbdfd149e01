// Package echo is the built-in provider a fresh server offers when no
// providers are configured. It answers model "echo" by sending the last user
// message back word by word, in exactly OpenAI's response shapes, with usage
// counted in words (prompt: the words of every message; completion: the
// words sent back). max_completion_tokens, else max_tokens, caps the answer
// (finish_reason "length").
package echo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// Model is the model name the echo provider serves by default.
const Model = "echo"

// Provider is the echo provider. The zero value is not usable; call New.
type Provider struct {
	name   string
	now    func() time.Time
	stored *store
}

var _ llm.Provider = (*Provider)(nil)

// New returns an echo provider named name; now may be nil (time.Now).
func New(name string, now func() time.Time) *Provider {
	if now == nil {
		now = time.Now
	}
	return &Provider{name: name, now: now, stored: &store{}}
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.name }

// Endpoints lists what the echo provider serves: every endpoint.
func (p *Provider) Endpoints() []string {
	return []string{llm.EndpointChat, llm.EndpointCompletions, llm.EndpointEmbeddings, llm.EndpointResponses, llm.EndpointMessages}
}

// Send answers req like an OpenAI server would, on the chat completions,
// completions, embeddings and Responses endpoints, and like Anthropic on
// the messages endpoint. The echo provider is part of
// Tollgate, so a request it cannot serve (no messages, a max_tokens below
// 1, a body of the wrong shape) is refused with Tollgate's own 400
// (*gateway.Error: invalid_field or missing_field naming the body field),
// not an upstream error. It returns ctx's error if ctx is already done,
// and never a TransportError.
func (p *Provider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch req.Endpoint {
	case llm.EndpointCompletions:
		return p.completions(req)
	case llm.EndpointEmbeddings:
		return p.embeddings(req)
	case llm.EndpointResponses:
		return p.responses(req)
	case llm.EndpointMessages:
		return p.messages(req)
	}
	var cr llm.ChatRequest
	if err := json.Unmarshal(req.Body.Bytes(), &cr); err != nil {
		return nil, gateway.Invalid("invalid_field", "body.messages", "messages must be an array of chat messages")
	}
	if cr.Messages == nil {
		return nil, gateway.Invalid("missing_field", "body.messages", "messages is required")
	}
	if len(cr.Messages) == 0 {
		return nil, gateway.Invalid("invalid_field", "body.messages", "messages must not be empty")
	}
	limit, err := maxTokens(cr.MaxCompletionTokens, cr.MaxTokens)
	if err != nil {
		return nil, err
	}
	var prompt int64
	last := ""
	for i := range cr.Messages {
		text := cr.Messages[i].Text()
		prompt += int64(len(strings.Fields(text)))
		if cr.Messages[i].Role == "user" {
			last = text
		}
	}
	words := strings.Fields(last)
	finish := "stop"
	if limit > 0 && len(words) > limit {
		words, finish = words[:limit], "length"
	}
	a := answer{
		id: newID(), created: p.now().Unix(), model: cr.Model, words: words, finish: finish,
		usage: llm.Usage{PromptTokens: prompt, CompletionTokens: int64(len(words)), TotalTokens: prompt + int64(len(words))},
	}
	if cr.Stream {
		includeUsage := cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage
		return respond("text/event-stream", a.stream(includeUsage)), nil
	}
	return respond("application/json", a.completion()), nil
}

type answer struct {
	id      string
	created int64
	model   string
	words   []string
	finish  string
	usage   llm.Usage
}

func (a *answer) completion() []byte {
	b, _ := json.Marshal(llm.ChatCompletion{
		ID: a.id, Object: "chat.completion", Created: a.created, Model: a.model,
		Choices: []llm.Choice{{
			Message:      llm.ResponseMessage{Role: "assistant", Content: strings.Join(a.words, " ")},
			Logprobs:     json.RawMessage("null"),
			FinishReason: a.finish,
		}},
		Usage: &a.usage,
	})
	return b
}

func (a *answer) stream(includeUsage bool) []byte {
	var out []byte
	var usageField json.RawMessage
	if includeUsage {
		usageField = json.RawMessage("null")
	}
	chunk := func(d llm.Delta, finish *string) {
		b, _ := json.Marshal(llm.Chunk{
			ID: a.id, Object: "chat.completion.chunk", Created: a.created, Model: a.model,
			Choices: []llm.ChunkChoice{{Delta: d, Logprobs: json.RawMessage("null"), FinishReason: finish}},
			Usage:   usageField,
		})
		out = llm.AppendEvent(out, "", string(b))
	}
	empty := ""
	chunk(llm.Delta{Role: "assistant", Content: &empty}, nil)
	for i, w := range a.words {
		if i > 0 {
			w = " " + w
		}
		chunk(llm.Delta{Content: &w}, nil)
	}
	chunk(llm.Delta{}, &a.finish)
	if includeUsage {
		u, _ := json.Marshal(a.usage)
		b, _ := json.Marshal(llm.Chunk{
			ID: a.id, Object: "chat.completion.chunk", Created: a.created, Model: a.model,
			Choices: []llm.ChunkChoice{}, Usage: u,
		})
		out = llm.AppendEvent(out, "", string(b))
	}
	return llm.AppendEvent(out, "", llm.Done)
}

func respond(contentType string, body []byte) *llm.Response {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	return &llm.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(body))}
}

// maxTokens returns the answer's word limit (-1: none) from
// max_completion_tokens, else max_tokens; a limit below 1 is refused.
func maxTokens(completion, legacy *int) (int, error) {
	limit := -1
	param := "body.max_tokens"
	switch {
	case completion != nil:
		limit, param = *completion, "body.max_completion_tokens"
	case legacy != nil:
		limit = *legacy
	}
	if limit == 0 || limit < -1 {
		return 0, gateway.Invalid("invalid_field", param, param[len("body."):]+" must be at least 1")
	}
	return limit, nil
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "chatcmpl-" + hex.EncodeToString(b)
}
