package echo

import (
	"encoding/json"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// messages answers Anthropic's Messages API in Anthropic's message object
// and SSE event shapes (message_start, content_block_start, ping,
// content_block_delta, content_block_stop, message_delta with the usage,
// message_stop). max_tokens is required, as Anthropic requires it.
func (p *Provider) messages(req *llm.Request) (*llm.Response, error) {
	var in struct {
		Model     string          `json:"model"`
		System    json.RawMessage `json:"system"`
		Stream    bool            `json:"stream"`
		MaxTokens *int            `json:"max_tokens"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(req.Body.Bytes(), &in); err != nil {
		return nil, gateway.Invalid("invalid_field", "body.messages", "messages must be an array of messages")
	}
	switch {
	case in.Messages == nil:
		return nil, gateway.Invalid("missing_field", "body.messages", "messages is required")
	case len(in.Messages) == 0:
		return nil, gateway.Invalid("invalid_field", "body.messages", "messages must not be empty")
	case in.MaxTokens == nil:
		return nil, gateway.Invalid("missing_field", "body.max_tokens", "max_tokens is required")
	}
	limit, err := limitOf(in.MaxTokens, "max_tokens")
	if err != nil {
		return nil, err
	}
	var texts [][2]string
	if len(in.System) > 0 {
		texts = append(texts, [2]string{"system", contentText(in.System)})
	}
	for _, m := range in.Messages {
		texts = append(texts, [2]string{m.Role, contentText(m.Content)})
	}
	prompt, words, complete := echoed(texts, limit)
	stop := "end_turn"
	if !complete {
		stop = "max_tokens"
	}
	id := "msg_" + newID()[len("chatcmpl-"):]
	message := func(content []any, stopReason any, output int64) map[string]any {
		return map[string]any{"id": id, "type": "message", "role": "assistant", "model": in.Model, "content": content,
			"stop_reason": stopReason, "stop_sequence": nil,
			"usage": map[string]int64{"input_tokens": prompt, "output_tokens": output}}
	}
	text := strings.Join(words, " ")
	if !in.Stream {
		b, _ := json.Marshal(message([]any{map[string]string{"type": "text", "text": text}}, stop, int64(len(words))))
		return respond("application/json", b), nil
	}
	var out []byte
	ev := func(typ string, fields map[string]any) {
		fields["type"] = typ
		b, _ := json.Marshal(fields)
		out = llm.AppendEvent(out, typ, string(b))
	}
	ev("message_start", map[string]any{"message": message([]any{}, nil, 1)})
	ev("content_block_start", map[string]any{"index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
	ev("ping", map[string]any{})
	for _, w := range spaced(words) {
		ev("content_block_delta", map[string]any{"index": 0, "delta": map[string]string{"type": "text_delta", "text": w}})
	}
	ev("content_block_stop", map[string]any{"index": 0})
	ev("message_delta", map[string]any{"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]int64{"output_tokens": int64(len(words))}})
	ev("message_stop", map[string]any{})
	return respond("text/event-stream", out), nil
}
