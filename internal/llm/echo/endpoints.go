package echo

import (
	"encoding/json"
	"hash/fnv"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// textInput reads the prompt of /v1/completions or the input of
// /v1/embeddings: a string or an array of strings.
func textInput(raw json.RawMessage, field string) ([]string, error) {
	param := "body." + field
	if len(raw) == 0 || string(raw) == "null" {
		return nil, gateway.Invalid("missing_field", param, field+" is required")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
		return nil, gateway.Invalid("invalid_field", param, field+" must be a string or a non-empty array of strings")
	}
	return many, nil
}

// completions echoes the (first) prompt back as a legacy text completion.
func (p *Provider) completions(req *llm.Request) (*llm.Response, error) {
	var in struct {
		Model         string          `json:"model"`
		Prompt        json.RawMessage `json:"prompt"`
		Stream        bool            `json:"stream"`
		MaxTokens     *int            `json:"max_tokens"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(req.Body.Bytes(), &in); err != nil {
		return nil, gateway.Invalid("invalid_field", "body.prompt", "prompt must be a string or an array of strings")
	}
	prompts, err := textInput(in.Prompt, "prompt")
	if err != nil {
		return nil, err
	}
	limit, err := maxTokens(nil, in.MaxTokens)
	if err != nil {
		return nil, err
	}
	words := strings.Fields(prompts[0])
	finish := "stop"
	if limit > 0 && len(words) > limit {
		words, finish = words[:limit], "length"
	}
	prompt := int64(len(strings.Fields(strings.Join(prompts, " "))))
	usage := llm.Usage{PromptTokens: prompt, CompletionTokens: int64(len(words)), TotalTokens: prompt + int64(len(words))}
	id, created := "cmpl-"+newID()[len("chatcmpl-"):], p.now().Unix()
	type choice struct {
		Text         string          `json:"text"`
		Index        int             `json:"index"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	}
	type completion struct {
		ID      string          `json:"id"`
		Object  string          `json:"object"`
		Created int64           `json:"created"`
		Model   string          `json:"model"`
		Choices []choice        `json:"choices"`
		Usage   json.RawMessage `json:"usage,omitempty"`
	}
	null := json.RawMessage("null")
	if !in.Stream {
		u, _ := json.Marshal(usage)
		b, _ := json.Marshal(completion{ID: id, Object: "text_completion", Created: created, Model: in.Model,
			Choices: []choice{{Text: strings.Join(words, " "), Logprobs: null, FinishReason: &finish}}, Usage: u})
		return respond("application/json", b), nil
	}
	var out []byte
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		b, _ := json.Marshal(completion{ID: id, Object: "text_completion", Created: created, Model: in.Model,
			Choices: []choice{{Text: w, Logprobs: null}}})
		out = llm.AppendEvent(out, "", string(b))
	}
	b, _ := json.Marshal(completion{ID: id, Object: "text_completion", Created: created, Model: in.Model,
		Choices: []choice{{Logprobs: null, FinishReason: &finish}}})
	out = llm.AppendEvent(out, "", string(b))
	if in.StreamOptions != nil && in.StreamOptions.IncludeUsage {
		u, _ := json.Marshal(usage)
		b, _ := json.Marshal(completion{ID: id, Object: "text_completion", Created: created, Model: in.Model,
			Choices: []choice{}, Usage: u})
		out = llm.AppendEvent(out, "", string(b))
	}
	return respond("text/event-stream", llm.AppendEvent(out, "", llm.Done)), nil
}

// embeddingDims is the length of the echo provider's embeddings.
const embeddingDims = 8

// embeddings answers a deterministic vector per input: the same text
// always embeds the same, so clients and tests can compare.
func (p *Provider) embeddings(req *llm.Request) (*llm.Response, error) {
	var in struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(req.Body.Bytes(), &in); err != nil {
		return nil, gateway.Invalid("invalid_field", "body.input", "input must be a string or an array of strings")
	}
	inputs, err := textInput(in.Input, "input")
	if err != nil {
		return nil, err
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
		Usage  struct {
			PromptTokens int64 `json:"prompt_tokens"`
			TotalTokens  int64 `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: in.Model, Data: make([]item, len(inputs))}
	for i, text := range inputs {
		out.Data[i] = item{Object: "embedding", Index: i, Embedding: Embed(text)}
		out.Usage.PromptTokens += int64(len(strings.Fields(text)))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	b, _ := json.Marshal(out)
	return respond("application/json", b), nil
}

// Embed is the echo provider's embedding of text: embeddingDims values in
// [-1, 1) drawn from FNV-1a hashes of the text.
func Embed(text string) []float64 {
	v := make([]float64, embeddingDims)
	for d := range v {
		h := fnv.New64a()
		_, _ = h.Write([]byte{byte(d)})
		_, _ = h.Write([]byte(text))
		v[d] = float64(h.Sum64()>>11)/float64(1<<53)*2 - 1
	}
	return v
}
