package llm

import (
	"encoding/json"

	"github.com/tidwall/gjson"
)

// The OpenAI chat completion wire types, reduced to the fields Tollgate
// produces (echo provider, fake upstream) or reads. Requests and responses
// that pass through the proxy are never decoded into these: unknown fields
// travel as bytes.

// ChatRequest is the part of a chat completion request the echo provider
// reads.
type ChatRequest struct {
	Model               string         `json:"model"`
	Messages            []Message      `json:"messages"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *StreamOptions `json:"stream_options,omitempty"`
	MaxTokens           *int           `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int           `json:"max_completion_tokens,omitempty"`
}

// StreamOptions is the request's stream_options object.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one chat message. Content is a string or an array of parts.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content,omitempty"`
}

// Text returns the message's text: the string content, or its text parts
// joined by newlines.
func (m *Message) Text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return ""
	}
	out := ""
	for _, p := range parts {
		if p.Type != "text" {
			continue
		}
		if out != "" {
			out += "\n"
		}
		out += p.Text
	}
	return out
}

// Usage is the token accounting of a completion.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// ChatCompletion is a non-streamed answer (object "chat.completion").
type ChatCompletion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint *string  `json:"system_fingerprint"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage,omitempty"`
}

// Choice is one choice of a ChatCompletion.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// ResponseMessage is the assistant message of a Choice.
type ResponseMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

// Chunk is one streamed event (object "chat.completion.chunk").
type Chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint *string       `json:"system_fingerprint"`
	Choices           []ChunkChoice `json:"choices"`
	// Usage is null on every chunk but the last when usage was requested;
	// RawMessage so that "null" is written as OpenAI writes it.
	Usage json.RawMessage `json:"usage,omitempty"`
}

// ChunkChoice is one choice of a Chunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// Delta is the increment a ChunkChoice carries.
type Delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// UsageOf reads the top-level "usage" object of a completion or chunk.
// ok is false when there is none (absent or null).
func UsageOf(body []byte) (u Usage, ok bool) {
	r := gjson.GetBytes(body, "usage")
	if !r.IsObject() {
		return Usage{}, false
	}
	return UsageFrom(r), true
}

// UsageFrom reads a usage object in any of the shapes upstreams send:
// OpenAI chat's prompt_tokens/completion_tokens (total as sent), the
// Responses API's and Anthropic's input_tokens/output_tokens (Anthropic's
// cache_creation and cache_read input tokens count as prompt tokens; the
// total is the sum).
func UsageFrom(r gjson.Result) Usage {
	var u Usage
	if p := r.Get("prompt_tokens"); p.Exists() {
		u.PromptTokens = p.Int()
		u.CompletionTokens = r.Get("completion_tokens").Int()
		u.TotalTokens = r.Get("total_tokens").Int()
		return u
	}
	u.PromptTokens = r.Get("input_tokens").Int() + r.Get("cache_creation_input_tokens").Int() + r.Get("cache_read_input_tokens").Int()
	u.CompletionTokens = r.Get("output_tokens").Int()
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}
