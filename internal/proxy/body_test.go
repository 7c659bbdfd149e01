package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// bigMessages is a messages member of about n bytes whose text holds
// escapes and multi-byte UTF-8, so no span of the body is plain ASCII.
func bigMessages(n int) string {
	unit := `h\u00e9llo \"q\" \\ é€😀 \n`
	return `"messages":[{"role":"user","content":"` + strings.Repeat(unit, n/len(unit)+1) + `"}]`
}

// postChunked posts body without a Content-Length (chunked), so the
// gateway cannot size its buffer in advance.
func (h *harness) postChunked(t *testing.T, body string, _ ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/chat/completions", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestLargeBodyByteForByte: the upstream gets the client's body byte for
// byte except the model's value (and stream_options for streams), for
// bodies around the pooled buffers' size classes and above the largest,
// with the model before, between or after a large member, spelled with
// escapes, and sent with or without a Content-Length.
func TestLargeBodyByteForByte(t *testing.T) {
	h, up := oneUpstream(t)
	for _, size := range []int{4<<10 - 200, 4 << 10, 64 << 10, 1 << 20, 5 << 20} {
		msgs := bigMessages(size)
		for _, tc := range []struct{ name, in, want string }{
			{"ModelFirst",
				`{"model":"fast",` + msgs + `,"temperature":0.7}`,
				`{"model":"org/Fast-Model-7B",` + msgs + `,"temperature":0.7}`},
			{"ModelLastEscaped",
				"{" + msgs + `, "mod\u0065l" : "f\u0061st" }`,
				"{" + msgs + `, "mod\u0065l" : "org/Fast-Model-7B" }`},
			{"ModelBetweenUnicode",
				`{"x":"é😀",` + msgs + `,"model":"fast","y":"\u20ac",` + msgs + `}`,
				`{"x":"é😀",` + msgs + `,"model":"org/Fast-Model-7B","y":"\u20ac",` + msgs + `}`},
			{"StreamInjectsOptions",
				` {` + msgs + `,"stream":true,"model":"fast"}`,
				` {"stream_options":{"include_usage":true},` + msgs + `,"stream":true,"model":"org/Fast-Model-7B"}`},
		} {
			for _, chunked := range []bool{false, true} {
				post := h.post
				if chunked {
					post = h.postChunked
				}
				resp := post(t, tc.in)
				_, _ = io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %d chunked=%v: status %d", tc.name, size, chunked, resp.StatusCode)
				}
				if got := string(up.Next(t).Body); got != tc.want {
					t.Fatalf("%s %d chunked=%v: upstream body differs (%d bytes, want %d)", tc.name, size, chunked, len(got), len(tc.want))
				}
			}
		}
	}
}

// TestPooledBodyNoLeak: a request after a longer one, in a reused buffer,
// sends only its own bytes upstream, with and without a Content-Length.
func TestPooledBodyNoLeak(t *testing.T) {
	h, up := oneUpstream(t)
	long := `{"model":"fast",` + bigMessages(60<<10) + `,"tail":"` + strings.Repeat("Z", 1000) + `"}`
	short := `{"model":"fast","messages":[{"role":"user","content":"short"}]}`
	for range 20 {
		for _, chunked := range []bool{false, true} {
			for _, in := range []string{long, short} {
				post := h.post
				if chunked {
					post = h.postChunked
				}
				resp := post(t, in)
				_, _ = io.Copy(io.Discard, resp.Body)
				want := strings.Replace(in, `"fast"`, `"org/Fast-Model-7B"`, 1)
				if got := string(up.Next(t).Body); got != want {
					t.Fatalf("chunked=%v: upstream body of %d bytes, want %d: %.80q...", chunked, len(got), len(want), got)
				}
			}
		}
	}
}

// TestFallbackLargeBody: a primary that refuses a large body before
// reading it (503 at once, the gateway may still be sending) and one that
// reads it and fails, then the fallback gets the whole body with its own
// model; and the next request still sends its own bytes (the buffer was
// not reused while a transport could read it: the race detector watches).
func TestFallbackLargeBody(t *testing.T) {
	early := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, `{"error":{"message":"busy"}}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(early.Close)
	failing := llmtest.NewT(t, llmtest.Reply{Status: 500})
	third := llmtest.NewT(t, llmtest.Reply{})
	h := newHarness(t,
		model("fast", provider("a", early.URL+"/v1", time.Minute), "up-a", "second", "third"),
		model("second", provider("b", failing.URL, time.Minute), "up-b"),
		model("third", provider("c", third.URL, time.Minute), "up-c"))
	msgs := bigMessages(2 << 20)
	for i := range 3 {
		in := `{"model":"fast",` + msgs + `,"n":` + strings.Repeat("1", i+1) + `}`
		resp := h.post(t, in)
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200", resp.StatusCode)
		}
		if got, want := string(failing.Next(t).Body), strings.Replace(in, `"fast"`, `"up-b"`, 1); got != want {
			t.Fatalf("second upstream got %d bytes, want %d", len(got), len(want))
		}
		if got, want := string(third.Next(t).Body), strings.Replace(in, `"fast"`, `"up-c"`, 1); got != want {
			t.Fatalf("fallback upstream got %d bytes, want %d", len(got), len(want))
		}
	}
}

// lateReader is a provider that answers at once and reads the request
// body only later, as an HTTP transport may after Send returned: each
// opened body goes to opened, unread.
type lateReader struct{ opened chan io.ReadCloser }

func (p *lateReader) Name() string { return "late" }

func (p *lateReader) Send(_ context.Context, req *llm.Request) (*llm.Response, error) {
	p.opened <- req.Body.Open()
	return &llm.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"choices":[]}`))}, nil
}

// TestBodyHeldWhileProviderReads: the pooled buffer of a request is not
// reused while a provider still holds a reader of it, even after the
// handler returned and another request of the same size came in.
func TestBodyHeldWhileProviderReads(t *testing.T) {
	late := &lateReader{opened: make(chan io.ReadCloser, 2)}
	h := newHarness(t, model("fast", late, "up"))
	first := `{"model":"fast",` + bigMessages(100<<10) + `}`
	second := `{"model":"fast",` + strings.Replace(bigMessages(100<<10), "h", "X", -1) + `}`
	for _, in := range []string{first, second} {
		resp := h.post(t, in)
		_, _ = io.Copy(io.Discard, resp.Body)
		h.waitDone(t)
	}
	for _, in := range []string{first, second} {
		rc := <-late.opened
		got, err := io.ReadAll(rc)
		rc.Close()
		if want := strings.Replace(in, `"fast"`, `"up"`, 1); err != nil || string(got) != want {
			t.Fatalf("late read: %d bytes (err %v), want the request's own %d", len(got), err, len(want))
		}
	}
}
