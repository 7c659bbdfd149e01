// Package llmtest is a scriptable fake upstream on httptest (OpenAI's chat
// completions and Responses API, Anthropic's Messages API), for the
// proxy's tests and the benchmark harness. Each request to POST
// /v1/chat/completions, /v1/responses or /v1/messages is answered in that
// API's shapes by the next scripted Reply: a
// fixed completion, a stream (optionally paced by a gap or stepped by the
// test), an HTTP error, a stream that errors, is cut or hangs after N events,
// or one with very long SSE lines. Every request is recorded with its
// headers, body, the event data sent and whether the client went away.
package llmtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply scripts one answer. The zero Reply is a 200 completion (or stream,
// when the request asks for one) of "Hello world".
type Reply struct {
	Status int               // 0 means 200
	Header map[string]string // extra response headers
	// Body, when set, is sent as-is as the whole response body (error
	// bodies, malformed answers). For Status >= 400 without Body an OpenAI
	// error body with Message is sent.
	Body    string
	Message string // error message for Status >= 400; default "fake upstream error"

	Words        []string // the completion, one stream chunk per word; default Hello, " world"
	PromptTokens int64    // reported prompt_tokens; default 5
	// Extra is raw JSON members (`"x_vendor":{"a":1}`) added to the
	// completion and to every chunk, to check pass-through.
	Extra string

	// Stream pacing: Gap is slept before every event after the first;
	// Step, when non-nil, is received from before every event after the
	// first, so a test can release events one at a time.
	Gap  time.Duration
	Step <-chan struct{}

	// Stream failures, counted in events sent (role chunk included):
	CutAfter   int  // abort the connection after N events; -1: before the first
	ErrorAfter int  // after N events send an error event and end (no [DONE])
	HangAfter  int  // after N events wait until the client goes away
	Hang       bool // send nothing (no headers) until the client goes away
	NoDone     bool // end the stream cleanly without [DONE]

	// Stream framing:
	LongField int  // add "x_padding" of N bytes to every chunk
	CRLF      bool // end lines with \r\n
	Comments  bool // send ": keep-alive" comment lines between events
	SplitData bool // split each chunk's JSON over two data: lines
}

// Received is one request as the fake upstream saw it.
type Received struct {
	// Method and Path of the request (Path under the server, e.g.
	// /v1/responses/resp_fake_1).
	Method, Path string
	Header       http.Header
	Body         []byte
	// Sent is the data of every event sent (streams) or the body (other
	// answers), in order.
	Sent []string
	// Canceled is set when the client went away before the answer ended.
	Canceled bool
}

// Server is a running fake upstream.
type Server struct {
	// URL is the base URL to configure as a provider's base_url (ends in /v1).
	URL string

	srv      *httptest.Server
	stop     chan struct{}
	finished chan *Received

	mu      sync.Mutex
	replies []Reply
	n       int
	stored  map[string]string // Responses API objects by id
}

// New starts a fake upstream answering with replies in order; the last
// reply repeats. Close it when done (NewT does that at cleanup).
func New(replies ...Reply) *Server {
	s := &Server{stop: make(chan struct{}), finished: make(chan *Received, 4096), replies: replies}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL + "/v1"
	return s
}

// NewT is New with Close registered as t's cleanup.
func NewT(t testing.TB, replies ...Reply) *Server {
	s := New(replies...)
	t.Cleanup(s.Close)
	return s
}

// Close releases hanging handlers and shuts the server down.
func (s *Server) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.srv.Close()
}

// SetReplies replaces the script; the count of requests served is kept.
func (s *Server) SetReplies(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = replies
}

// Count returns how many requests reached the fake.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Next waits for the next request to finish being answered and returns
// it. The first 4096 unread requests are kept; later ones are not
// recorded, so long benchmarks do not grow memory. It fails t if none finishes within 10 seconds (a hang guard, not a
// timing assertion).
func (s *Server) Next(t testing.TB) *Received {
	t.Helper()
	select {
	case r := <-s.finished:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("llmtest: no upstream request finished within 10s")
		return nil
	}
}

func (s *Server) next() Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if len(s.replies) == 0 {
		return Reply{}
	}
	return s.replies[min(s.n-1, len(s.replies)-1)]
}

// ServeHTTP answers POST /v1/chat/completions, /v1/responses (OpenAI's
// Responses API; GET and DELETE /v1/responses/{id} answer the responses it
// made) and /v1/messages (Anthropic's Messages API) per the script.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := r.URL.Path
	switch {
	case r.Method == http.MethodPost && (route == "/v1/chat/completions" || route == "/v1/responses" || route == "/v1/messages"):
	case (r.Method == http.MethodGet || r.Method == http.MethodDelete) && strings.HasPrefix(route, "/v1/responses/"):
		route = "/v1/responses/{id}"
	default:
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	rec := &Received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	rec.Body = body
	reply := s.next()
	a := &answerer{s: s, w: w, r: r, reply: reply, rec: rec, route: route}
	defer func() {
		select {
		case s.finished <- rec:
		default: // nobody reads (a benchmark): keep only the first 4096
		}
	}()
	a.answer()
}

// request is what the fake reads of a request.
type request struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (rp *Reply) words() []string {
	if rp.Words == nil {
		return []string{"Hello", " world"}
	}
	return rp.Words
}

func (rp *Reply) promptTokens() int64 {
	if rp.PromptTokens == 0 {
		return 5
	}
	return rp.PromptTokens
}

func usageJSON(prompt, completion int64) string {
	return `{"prompt_tokens":` + strconv.FormatInt(prompt, 10) + `,"completion_tokens":` + strconv.FormatInt(completion, 10) +
		`,"total_tokens":` + strconv.FormatInt(prompt+completion, 10) + `}`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
