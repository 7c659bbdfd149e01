package echo

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// responses answers OpenAI's Responses API: POST creates a response (kept
// for GET and DELETE unless "store": false), in OpenAI's object and
// response.* event shapes.
func (p *Provider) responses(req *llm.Request) (*llm.Response, error) {
	switch req.Method {
	case http.MethodGet, http.MethodDelete:
		b, ok := p.stored.get(req.ID, req.Method == http.MethodDelete)
		if !ok {
			return notStored(req.ID), nil
		}
		if req.Method == http.MethodDelete {
			b, _ = json.Marshal(map[string]any{"id": req.ID, "object": "response", "deleted": true})
		}
		return respond("application/json", b), nil
	}
	var in struct {
		Model           string          `json:"model"`
		Input           json.RawMessage `json:"input"`
		Instructions    *string         `json:"instructions"`
		Stream          bool            `json:"stream"`
		Store           *bool           `json:"store"`
		MaxOutputTokens *int            `json:"max_output_tokens"`
	}
	if err := json.Unmarshal(req.Body.Bytes(), &in); err != nil {
		return nil, gateway.Invalid("invalid_field", "body.input", "input must be a string or an array of input items")
	}
	if len(in.Input) == 0 || string(in.Input) == "null" {
		return nil, gateway.Invalid("missing_field", "body.input", "input is required")
	}
	var texts [][2]string
	if in.Instructions != nil {
		texts = append(texts, [2]string{"system", *in.Instructions})
	}
	var one string
	if json.Unmarshal(in.Input, &one) == nil {
		texts = append(texts, [2]string{"user", one})
	} else {
		var items []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(in.Input, &items); err != nil {
			return nil, gateway.Invalid("invalid_field", "body.input", "input must be a string or an array of input items")
		}
		for _, it := range items {
			texts = append(texts, [2]string{it.Role, contentText(it.Content)})
		}
	}
	limit, err := limitOf(in.MaxOutputTokens, "max_output_tokens")
	if err != nil {
		return nil, err
	}
	prompt, words, complete := echoed(texts, limit)
	r := &response{id: "resp_" + newID()[len("chatcmpl-"):], msgID: "msg_" + newID()[len("chatcmpl-"):],
		created: p.now().Unix(), model: in.Model, words: words, complete: complete,
		usage: llm.Usage{PromptTokens: prompt, CompletionTokens: int64(len(words)), TotalTokens: prompt + int64(len(words))}}
	final := r.object("completed", strings.Join(words, " "), true)
	if in.Store == nil || *in.Store {
		p.stored.put(r.id, final)
	}
	if !in.Stream {
		return respond("application/json", final), nil
	}
	return respond("text/event-stream", r.stream(final)), nil
}

type response struct {
	id, msgID string
	created   int64
	model     string
	words     []string
	complete  bool
	usage     llm.Usage
}

func (r *response) item(status, text string, done bool) map[string]any {
	content := []any{}
	if done {
		content = append(content, r.part(text))
	}
	return map[string]any{"type": "message", "id": r.msgID, "status": status, "role": "assistant", "content": content}
}

func (r *response) part(text string) map[string]any {
	return map[string]any{"type": "output_text", "text": text, "annotations": []any{}, "logprobs": []any{}}
}

// object is the Response object; done adds the output and the usage.
func (r *response) object(status, text string, done bool) []byte {
	o := map[string]any{
		"id": r.id, "object": "response", "created_at": r.created, "status": status, "model": r.model,
		"output": []any{}, "error": nil, "incomplete_details": nil, "instructions": nil,
		"parallel_tool_calls": true, "tool_choice": "auto", "tools": []any{}, "usage": nil,
	}
	if done {
		if !r.complete {
			o["status"], o["incomplete_details"] = "incomplete", map[string]string{"reason": "max_output_tokens"}
		}
		o["output"] = []any{r.item("completed", text, true)}
		o["usage"] = map[string]any{
			"input_tokens": r.usage.PromptTokens, "output_tokens": r.usage.CompletionTokens, "total_tokens": r.usage.TotalTokens,
			"input_tokens_details": map[string]int{"cached_tokens": 0}, "output_tokens_details": map[string]int{"reasoning_tokens": 0},
		}
	}
	b, _ := json.Marshal(o)
	return b
}

// stream is the response.* event sequence OpenAI sends, ending with
// response.completed (or response.incomplete when max_output_tokens cut it).
func (r *response) stream(final []byte) []byte {
	var out []byte
	seq := 0
	ev := func(typ string, fields map[string]any) {
		fields["type"], fields["sequence_number"] = typ, seq
		seq++
		b, _ := json.Marshal(fields)
		out = llm.AppendEvent(out, typ, string(b))
	}
	text := strings.Join(r.words, " ")
	ev("response.created", map[string]any{"response": json.RawMessage(r.object("in_progress", "", false))})
	ev("response.in_progress", map[string]any{"response": json.RawMessage(r.object("in_progress", "", false))})
	ev("response.output_item.added", map[string]any{"output_index": 0, "item": r.item("in_progress", "", false)})
	ev("response.content_part.added", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "part": r.part("")})
	for _, w := range spaced(r.words) {
		ev("response.output_text.delta", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "delta": w, "logprobs": []any{}})
	}
	ev("response.output_text.done", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "text": text, "logprobs": []any{}})
	ev("response.content_part.done", map[string]any{"item_id": r.msgID, "output_index": 0, "content_index": 0, "part": r.part(text)})
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": r.item("completed", text, true)})
	end := "response.completed"
	if !r.complete {
		end = "response.incomplete"
	}
	ev(end, map[string]any{"response": json.RawMessage(final)})
	return out
}
