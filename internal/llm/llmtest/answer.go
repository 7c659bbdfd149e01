package llmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// answerer writes one scripted answer.
type answerer struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	reply Reply
	rec   *Received
	route string // the served route pattern
	sent  int    // events sent
}

func (a *answerer) answer() {
	rp := &a.reply
	if rp.Hang {
		a.waitGone()
		return
	}
	for k, v := range rp.Header {
		a.w.Header().Set(k, v)
	}
	var req request
	_ = json.Unmarshal(a.rec.Body, &req)
	status := rp.Status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case rp.Body != "":
		a.writeWhole(status, rp.Body)
	case a.route == "/v1/messages":
		a.messages(status, &req)
	case a.route == "/v1/responses" || a.route == "/v1/responses/{id}":
		a.responses(status, &req)
	case status >= 400:
		msg := rp.Message
		if msg == "" {
			msg = "fake upstream error"
		}
		a.writeWhole(status, `{"error":{"message":`+quote(msg)+`,"type":"invalid_request_error","param":null,"code":null}}`)
	case req.Stream:
		a.stream(&req)
	default:
		a.writeWhole(status, a.completion(&req))
	}
}

// waitGone blocks until the client goes away (or the server closes).
func (a *answerer) waitGone() {
	select {
	case <-a.r.Context().Done():
		a.rec.Canceled = true
	case <-a.s.stop:
	}
}

func (a *answerer) writeWhole(status int, body string) {
	if a.w.Header().Get("Content-Type") == "" {
		a.w.Header().Set("Content-Type", "application/json")
	}
	a.w.WriteHeader(status)
	_, _ = a.w.Write([]byte(body))
	a.rec.Sent = append(a.rec.Sent, body)
}

func (a *answerer) extra() string {
	if a.reply.Extra == "" {
		return ""
	}
	return "," + a.reply.Extra
}

const fakeID = `"id":"chatcmpl-fake","object":"chat.completion`

func (a *answerer) completion(req *request) string {
	words := a.reply.words()
	return `{` + fakeID + `","created":1700000000,"model":` + quote(req.Model) +
		`,"choices":[{"index":0,"message":{"role":"assistant","content":` + quote(strings.Join(words, "")) +
		`},"logprobs":null,"finish_reason":"stop"}],"usage":` + usageJSON(a.reply.promptTokens(), int64(len(words))) + a.extra() + `}`
}

func (a *answerer) chunk(req *request, delta, finish string, withUsage bool) string {
	var b strings.Builder
	b.WriteString(`{` + fakeID + `.chunk","created":1700000000,"model":` + quote(req.Model) +
		`,"choices":[{"index":0,"delta":` + delta + `,"logprobs":null,"finish_reason":` + finish + `}]`)
	if withUsage {
		b.WriteString(`,"usage":null`)
	}
	if a.reply.LongField > 0 {
		b.WriteString(`,"x_padding":"` + strings.Repeat("x", a.reply.LongField) + `"`)
	}
	b.WriteString(a.extra() + `}`)
	return b.String()
}

func (a *answerer) stream(req *request) {
	rp := &a.reply
	withUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	words := rp.words()
	events := []string{a.chunk(req, `{"role":"assistant","content":""}`, "null", withUsage)}
	for _, w := range words {
		events = append(events, a.chunk(req, `{"content":`+quote(w)+`}`, "null", withUsage))
	}
	events = append(events, a.chunk(req, `{}`, `"stop"`, withUsage))
	if withUsage {
		events = append(events, `{`+fakeID+`.chunk","created":1700000000,"model":`+quote(req.Model)+
			`,"choices":[],"usage":`+usageJSON(rp.promptTokens(), int64(len(words)))+a.extra()+`}`)
	}
	if !rp.NoDone {
		events = append(events, "[DONE]")
	}

	typed := make([]sseEvent, len(events))
	for i, e := range events {
		typed[i] = sseEvent{data: e}
	}
	a.play(typed, sseEvent{data: `{"error":{"message":"fake upstream failed mid-stream","type":"server_error","param":null,"code":null}}`})
}

// sseEvent is one scripted event: an optional event name and its data.
type sseEvent struct{ typ, data string }

// play sends a stream's events per the script's failures and pacing;
// errEvent is what ErrorAfter sends.
func (a *answerer) play(events []sseEvent, errEvent sseEvent) {
	rp := &a.reply
	h := a.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	a.w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(a.w)
	_ = rc.Flush()
	for _, e := range events {
		switch {
		case rp.CutAfter != 0 && a.sent == max(rp.CutAfter, 0):
			panic(http.ErrAbortHandler) // closes the connection mid-stream
		case rp.ErrorAfter > 0 && a.sent == rp.ErrorAfter:
			a.typedEvent(rc, errEvent.typ, errEvent.data)
			return
		case rp.HangAfter > 0 && a.sent == rp.HangAfter:
			a.waitGone()
			return
		}
		if a.sent > 0 && !a.pace() {
			return
		}
		if !a.typedEvent(rc, e.typ, e.data) {
			a.rec.Canceled = true
			return
		}
	}
}

// pace waits before an event; false when the client went away meanwhile.
func (a *answerer) pace() bool {
	rp := &a.reply
	if rp.Gap > 0 {
		t := time.NewTimer(rp.Gap)
		defer t.Stop()
		select {
		case <-t.C:
		case <-a.r.Context().Done():
			a.rec.Canceled = true
			return false
		}
	}
	if rp.Step != nil {
		select {
		case <-rp.Step:
		case <-a.r.Context().Done():
			a.rec.Canceled = true
			return false
		case <-a.s.stop:
			return false
		}
	}
	return true
}

// typedEvent writes and flushes one event (with an "event:" line when typ
// is set); false when the write failed.
func (a *answerer) typedEvent(rc *http.ResponseController, typ, data string) bool {
	rp := &a.reply
	var b strings.Builder
	if rp.Comments {
		b.WriteString(": keep-alive\n\n")
	}
	if typ != "" {
		b.WriteString("event: " + typ + "\n")
	}
	lines := []string{data}
	if rp.SplitData {
		if i := strings.Index(data, `,"`); i >= 0 {
			lines = []string{data[:i+1], data[i+1:]}
			data = lines[0] + "\n" + lines[1]
		}
	}
	for _, l := range lines {
		b.WriteString("data: " + l + "\n")
		if rp.Comments {
			b.WriteString(": inside\n")
		}
	}
	b.WriteString("\n")
	frame := b.String()
	if rp.CRLF {
		frame = strings.ReplaceAll(frame, "\n", "\r\n")
	}
	a.rec.Sent = append(a.rec.Sent, data)
	a.sent++
	if _, err := a.w.Write([]byte(frame)); err != nil {
		return false
	}
	return rc.Flush() == nil
}
