package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Model names the mock answers; the gateway maps each to itself upstream,
// so direct, bare-proxy and gateway requests carry the same body.
const (
	modelSmall  = "bench-small"  // zero-delay completion of about 250 B
	modelLarge  = "bench-large"  // zero-delay completion of 8 KiB
	modelStream = "bench-stream" // paced stream of StreamChunks chunks, StreamGap apart
	modelIdle   = "bench-idle"   // one chunk, then nothing until the client leaves
)

// mockOptions shapes the mock's streams.
type mockOptions struct {
	StreamChunks int
	StreamGap    time.Duration
	IdleHold     time.Duration // longest an idle stream is held open
}

// mock is an OpenAI-compatible upstream that answers POST
// /v1/chat/completions by the model named in the body.
type mock struct {
	opt    mockOptions
	small  []byte
	large  []byte
	chunk  []byte
	first  []byte
	last   []byte
	srv    *http.Server
	ln     net.Listener
	stop   chan struct{}
	bufs   sync.Pool
	URL    string // base URL, http://127.0.0.1:PORT
	closed sync.Once
}

func completionJSON(model, content string) []byte {
	return fmt.Appendf(nil, `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, model, content)
}

func chunkEvent(delta, finish, usage string) []byte {
	return fmt.Appendf(nil, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"delta":%s,"finish_reason":%s}]%s}`+"\n\n", modelStream, delta, finish, usage)
}

// startMock listens on 127.0.0.1 and serves until close.
func startMock(opt mockOptions) (*mock, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	small := completionJSON(modelSmall, "Hello from the Tollgate benchmark mock.")
	large := completionJSON(modelLarge, "")
	pad := 8<<10 - len(large)
	large = completionJSON(modelLarge, strings.Repeat("lorem ", pad/6+1)[:pad])
	m := &mock{
		opt:   opt,
		small: small,
		large: large,
		first: chunkEvent(`{"role":"assistant","content":""}`, "null", ""),
		chunk: chunkEvent(`{"content":"token "}`, "null", ""),
		last: append(chunkEvent(`{}`, `"stop"`, `,"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}`),
			"data: [DONE]\n\n"...),
		ln:   ln,
		stop: make(chan struct{}),
		URL:  "http://" + ln.Addr().String(),
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.srv.Serve(ln) }() // failures show as failed requests
	return m, nil
}

func (m *mock) close() {
	m.closed.Do(func() {
		close(m.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.srv.Shutdown(ctx)
	})
}

func (m *mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	buf := m.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer m.bufs.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return
	}
	body := buf.Bytes()
	switch {
	case bytes.Contains(body, []byte(modelStream)):
		m.stream(w, r, m.opt.StreamChunks, m.opt.StreamGap)
	case bytes.Contains(body, []byte(modelIdle)):
		m.stream(w, r, -1, 0)
	case bytes.Contains(body, []byte(modelLarge)):
		m.json(w, m.large)
	default:
		m.json(w, m.small)
	}
}

func (m *mock) json(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	_, _ = w.Write(b)
}

// stream sends the role chunk, then n content chunks each after gap, then
// the final chunk with usage and [DONE]. n < 0 holds the stream open after
// the first chunk until the client leaves, the mock stops or IdleHold ends.
func (m *mock) stream(w http.ResponseWriter, r *http.Request, n int, gap time.Duration) {
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	rc := http.NewResponseController(w)
	if _, err := w.Write(m.first); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	if n < 0 {
		t := time.NewTimer(m.opt.IdleHold)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-m.stop:
		case <-t.C:
		}
		return
	}
	var t *time.Timer
	for range n {
		if gap > 0 {
			if t == nil {
				t = time.NewTimer(gap)
				defer t.Stop()
			} else {
				t.Reset(gap)
			}
			select {
			case <-r.Context().Done():
				return
			case <-m.stop:
				return
			case <-t.C:
			}
		}
		if _, err := w.Write(m.chunk); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	_, _ = w.Write(m.last)
}
