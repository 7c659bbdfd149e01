package llmtest

import (
	"net/http"
	"strconv"
	"strings"
)

// responses answers OpenAI's Responses API like OpenAI: a response object,
// or the response.* events ending with response.completed (NoDone leaves
// it out); ErrorAfter sends OpenAI's error event. GET and DELETE of
// /v1/responses/{id} answer a response this server made (404 otherwise).
func (a *answerer) responses(status int, req *request) {
	rp := &a.reply
	if status >= 400 {
		a.writeWhole(status, `{"error":{"message":`+quote(a.message())+`,"type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	if a.route == "/v1/responses/{id}" {
		id := strings.TrimPrefix(a.r.URL.Path, "/v1/responses/")
		a.s.mu.Lock()
		obj, ok := a.s.stored[id]
		if ok && a.r.Method == http.MethodDelete {
			delete(a.s.stored, id)
			obj = `{"id":` + quote(id) + `,"object":"response","deleted":true}`
		}
		a.s.mu.Unlock()
		if !ok {
			a.writeWhole(http.StatusNotFound, `{"error":{"message":"No response found with id '`+id+`'.","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		a.writeWhole(http.StatusOK, obj)
		return
	}
	a.s.mu.Lock()
	id := "resp_fake_" + strconv.Itoa(a.s.n)
	a.s.mu.Unlock()
	words := rp.words()
	text := strings.Join(words, "")
	usage := `{"input_tokens":` + strconv.FormatInt(rp.promptTokens(), 10) + `,"output_tokens":` + strconv.Itoa(len(words)) +
		`,"total_tokens":` + strconv.FormatInt(rp.promptTokens()+int64(len(words)), 10) + `}`
	object := func(status, output, usage string) string {
		return `{"id":` + quote(id) + `,"object":"response","created_at":1700000000,"status":` + quote(status) +
			`,"model":` + quote(req.Model) + `,"output":[` + output + `],"usage":` + usage + a.extra() + `}`
	}
	item := `{"type":"message","id":"msg_fake","status":"completed","role":"assistant","content":[{"type":"output_text","text":` + quote(text) + `,"annotations":[]}]}`
	final := object("completed", item, usage)
	a.s.mu.Lock()
	if a.s.stored == nil {
		a.s.stored = map[string]string{}
	}
	a.s.stored[id] = final
	a.s.mu.Unlock()
	if !req.Stream {
		a.writeWhole(status, final)
		return
	}
	seq := 0
	var events []sseEvent
	ev := func(typ, fields string) {
		events = append(events, sseEvent{typ, `{"type":` + quote(typ) + `,"sequence_number":` + strconv.Itoa(seq) + fields + `}`})
		seq++
	}
	ev("response.created", `,"response":`+object("in_progress", "", "null"))
	ev("response.output_item.added", `,"output_index":0,"item":{"type":"message","id":"msg_fake","status":"in_progress","role":"assistant","content":[]}`)
	for _, w := range words {
		ev("response.output_text.delta", `,"item_id":"msg_fake","output_index":0,"content_index":0,"delta":`+quote(w))
	}
	ev("response.output_item.done", `,"output_index":0,"item":`+item)
	if !rp.NoDone {
		ev("response.completed", `,"response":`+final)
	}
	a.play(events, sseEvent{"error", `{"type":"error","code":"server_error","message":"fake upstream failed mid-stream","param":null,"sequence_number":` + strconv.Itoa(rp.ErrorAfter) + `}`})
}

// messages answers Anthropic's Messages API like Anthropic: a message, or
// message_start (input usage), content_block_* events, message_delta
// (output usage) and message_stop (NoDone leaves it out); errors in
// Anthropic's shape, ErrorAfter as Anthropic's error event.
func (a *answerer) messages(status int, req *request) {
	rp := &a.reply
	if status >= 400 {
		a.writeWhole(status, `{"type":"error","error":{"type":"invalid_request_error","message":`+quote(a.message())+`}}`)
		return
	}
	words := rp.words()
	prompt := strconv.FormatInt(rp.promptTokens(), 10)
	message := func(content, stop, output string) string {
		return `{"id":"msg_fake","type":"message","role":"assistant","model":` + quote(req.Model) + `,"content":[` + content +
			`],"stop_reason":` + stop + `,"stop_sequence":null,"usage":{"input_tokens":` + prompt + `,"output_tokens":` + output + `}` + a.extra() + `}`
	}
	if !req.Stream {
		a.writeWhole(status, message(`{"type":"text","text":`+quote(strings.Join(words, ""))+`}`, `"end_turn"`, strconv.Itoa(len(words))))
		return
	}
	events := []sseEvent{
		{"message_start", `{"type":"message_start","message":` + message("", "null", "1") + `}`},
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	}
	for _, w := range words {
		events = append(events, sseEvent{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + quote(w) + `}}`})
	}
	events = append(events,
		sseEvent{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		sseEvent{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":` + strconv.Itoa(len(words)) + `}}`})
	if !rp.NoDone {
		events = append(events, sseEvent{"message_stop", `{"type":"message_stop"}`})
	}
	a.play(events, sseEvent{"error", `{"type":"error","error":{"type":"overloaded_error","message":"fake upstream failed mid-stream"}}`})
}

func (a *answerer) message() string {
	if a.reply.Message == "" {
		return "fake upstream error"
	}
	return a.reply.Message
}
