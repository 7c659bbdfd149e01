package echo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/echo"
)

func fixedNow() time.Time { return time.Unix(1700000000, 0) }

func send(t *testing.T, body string, stream bool) (*llm.Response, []byte) {
	t.Helper()
	p := echo.New("echo", fixedNow)
	resp, err := p.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(body)), Stream: stream})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// normalize replaces the random id so whole documents can be compared.
func normalize(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("not JSON: %s: %v", doc, err)
	}
	if id, _ := m["id"].(string); !strings.HasPrefix(id, "chatcmpl-") || len(id) != len("chatcmpl-")+24 {
		t.Fatalf("id = %q, want chatcmpl-<24 hex>", id)
	}
	m["id"] = "ID"
	return m
}

func parse(t *testing.T, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const conversation = `{"model":"echo","messages":[
	{"role":"system","content":"be brief"},
	{"role":"user","content":"first question"},
	{"role":"assistant","content":"ok"},
	{"role":"user","content":[{"type":"text","text":"hello  there"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"big world"}]}
]`

func TestCompletion(t *testing.T) {
	resp, b := send(t, conversation+`}`, false)
	if got, want := resp.StatusCode, http.StatusOK; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Fatalf("Content-Type = %q, want %q", got, want)
	}
	want := parse(t, `{"id":"ID","object":"chat.completion","created":1700000000,"model":"echo","system_fingerprint":null,
		"choices":[{"index":0,"message":{"role":"assistant","content":"hello there big world","refusal":null},"logprobs":null,"finish_reason":"stop"}],
		"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`)
	if diff := cmp.Diff(want, normalize(t, string(b))); diff != "" {
		t.Fatalf("completion mismatch (-want +got):\n%s", diff)
	}
}

func TestCompletionMaxTokens(t *testing.T) {
	for _, field := range []string{"max_tokens", "max_completion_tokens"} {
		t.Run(field, func(t *testing.T) {
			_, b := send(t, conversation+`,"`+field+`":2}`, false)
			m := normalize(t, string(b))
			choice := m["choices"].([]any)[0].(map[string]any)
			if got, want := choice["message"].(map[string]any)["content"], "hello there"; got != want {
				t.Fatalf("content = %q, want %q", got, want)
			}
			if got, want := choice["finish_reason"], "length"; got != want {
				t.Fatalf("finish_reason = %q, want %q", got, want)
			}
			if diff := cmp.Diff(parse(t, `{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}`), m["usage"]); diff != "" {
				t.Fatalf("usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func streamEvents(t *testing.T, b []byte) []string {
	t.Helper()
	var data []string
	for ev, err := range llm.ReadEvents(strings.NewReader(string(b))) {
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, ev.Data)
	}
	return data
}

func TestStream(t *testing.T) {
	const chunk = `{"id":"ID","object":"chat.completion.chunk","created":1700000000,"model":"echo","system_fingerprint":null,"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]%s}`
	tests := []struct {
		name         string
		extra        string
		usageField   string
		deltas       []string
		finish       string
		wantUsage    string
		includeUsage bool
	}{
		{name: "WithoutUsage", extra: `,"stream":true`, deltas: []string{`"hello"`, `" there"`, `" big"`, `" world"`}, finish: "stop"},
		{name: "WithUsage", extra: `,"stream":true,"stream_options":{"include_usage":true}`, usageField: `,"usage":null`,
			deltas: []string{`"hello"`, `" there"`, `" big"`, `" world"`}, finish: "stop",
			wantUsage: `{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}`},
		{name: "MaxTokens", extra: `,"stream":true,"max_tokens":3,"stream_options":{"include_usage":true}`, usageField: `,"usage":null`,
			deltas: []string{`"hello"`, `" there"`, `" big"`}, finish: "length",
			wantUsage: `{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := send(t, conversation+tc.extra+`}`, true)
			if got, want := resp.Header.Get("Content-Type"), "text/event-stream"; got != want {
				t.Fatalf("Content-Type = %q, want %q", got, want)
			}
			var want []map[string]any
			want = append(want, parse(t, sprintf(chunk, `{"role":"assistant","content":""}`, "null", tc.usageField)))
			for _, d := range tc.deltas {
				want = append(want, parse(t, sprintf(chunk, `{"content":`+d+`}`, "null", tc.usageField)))
			}
			want = append(want, parse(t, sprintf(chunk, `{}`, `"`+tc.finish+`"`, tc.usageField)))
			if tc.wantUsage != "" {
				want = append(want, parse(t, `{"id":"ID","object":"chat.completion.chunk","created":1700000000,"model":"echo","system_fingerprint":null,"choices":[],"usage":`+tc.wantUsage+`}`))
			}
			data := streamEvents(t, b)
			if got, want := data[len(data)-1], "[DONE]"; got != want {
				t.Fatalf("last event = %q, want %q", got, want)
			}
			var got []map[string]any
			for _, d := range data[:len(data)-1] {
				got = append(got, normalize(t, d))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("chunks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func sprintf(format string, args ...string) string {
	out := format
	for _, a := range args {
		out = strings.Replace(out, "%s", a, 1)
	}
	return out
}

// TestBadRequests: the echo provider is part of Tollgate, so what it
// cannot serve is refused with Tollgate's own 400 (a *gateway.Error naming
// the body field), on every endpoint.
func TestBadRequests(t *testing.T) {
	tests := []struct{ name, endpoint, body, code, param string }{
		{"NotJSON", "", `{`, "invalid_field", "body.messages"},
		{"MissingMessages", "", `{"model":"echo"}`, "missing_field", "body.messages"},
		{"NoMessages", "", `{"model":"echo","messages":[]}`, "invalid_field", "body.messages"},
		{"MessagesNotArray", "", `{"model":"echo","messages":"hi"}`, "invalid_field", "body.messages"},
		{"ZeroMaxTokens", "", `{"model":"echo","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "invalid_field", "body.max_tokens"},
		{"ZeroMaxCompletionTokens", "", `{"model":"echo","messages":[{"role":"user","content":"x"}],"max_completion_tokens":0}`, "invalid_field", "body.max_completion_tokens"},
		{"CompletionsNoPrompt", llm.EndpointCompletions, `{"model":"echo"}`, "missing_field", "body.prompt"},
		{"CompletionsBadPrompt", llm.EndpointCompletions, `{"model":"echo","prompt":7}`, "invalid_field", "body.prompt"},
		{"CompletionsZeroMaxTokens", llm.EndpointCompletions, `{"model":"echo","prompt":"x","max_tokens":0}`, "invalid_field", "body.max_tokens"},
		{"EmbeddingsNoInput", llm.EndpointEmbeddings, `{"model":"echo"}`, "missing_field", "body.input"},
		{"EmbeddingsEmptyList", llm.EndpointEmbeddings, `{"model":"echo","input":[]}`, "invalid_field", "body.input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := echo.New("echo", nil).Send(context.Background(), &llm.Request{Endpoint: tc.endpoint, Body: llm.BytesBody([]byte(tc.body))})
			var ge *gateway.Error
			if resp != nil || !errors.As(err, &ge) {
				t.Fatalf("Send = %v, %v; want a *gateway.Error", resp, err)
			}
			if ge.Kind != gateway.KindInvalid || ge.Code != tc.code || ge.Param != tc.param {
				t.Fatalf("error = %v %s %q, want invalid %s %q", ge.Kind, ge.Code, ge.Param, tc.code, tc.param)
			}
		})
	}
}

// TestCompletionsAndEmbeddings: /v1/completions echoes the prompt as text
// (whole and streamed, usage counted in words) and /v1/embeddings answers
// one deterministic vector per input.
func TestCompletionsAndEmbeddings(t *testing.T) {
	p := echo.New("echo", func() time.Time { return time.Unix(1700000000, 0) })
	ctx := context.Background()
	resp, err := p.Send(ctx, &llm.Request{Endpoint: llm.EndpointCompletions, Body: llm.BytesBody([]byte(`{"model":"echo","prompt":"say it back","max_tokens":2}`))})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	var whole struct {
		Object  string
		Choices []struct {
			Text         string
			FinishReason string `json:"finish_reason"`
		}
		Usage llm.Usage
	}
	if err := json.Unmarshal(b, &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Object != "text_completion" || len(whole.Choices) != 1 || whole.Choices[0].Text != "say it" ||
		whole.Choices[0].FinishReason != "length" || whole.Usage != (llm.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}) {
		t.Fatalf("completion = %s", b)
	}
	resp, err = p.Send(ctx, &llm.Request{Endpoint: llm.EndpointCompletions, Stream: true,
		Body: llm.BytesBody([]byte(`{"model":"echo","prompt":["a b"],"stream":true,"stream_options":{"include_usage":true}}`))})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	var sawUsage, sawDone bool
	for ev, err := range llm.ReadEvents(resp.Body) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Data == llm.Done {
			sawDone = true
			continue
		}
		var c struct {
			Choices []struct{ Text string }
			Usage   *llm.Usage
		}
		_ = json.Unmarshal([]byte(ev.Data), &c)
		for _, ch := range c.Choices {
			text += ch.Text
		}
		if c.Usage != nil && *c.Usage == (llm.Usage{PromptTokens: 2, CompletionTokens: 2, TotalTokens: 4}) {
			sawUsage = true
		}
	}
	if text != "a b" || !sawUsage || !sawDone {
		t.Fatalf("stream text %q usage %v done %v", text, sawUsage, sawDone)
	}
	resp, err = p.Send(ctx, &llm.Request{Endpoint: llm.EndpointEmbeddings, Body: llm.BytesBody([]byte(`{"model":"echo","input":["one two","three"]}`))})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	var emb struct {
		Object string
		Data   []struct {
			Object    string
			Index     int
			Embedding []float64
		}
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
			TotalTokens  int64 `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal(b, &emb); err != nil {
		t.Fatal(err)
	}
	if emb.Object != "list" || len(emb.Data) != 2 || emb.Data[1].Index != 1 || emb.Usage.PromptTokens != 3 || emb.Usage.TotalTokens != 3 {
		t.Fatalf("embeddings = %s", b)
	}
	if !slices.Equal(emb.Data[0].Embedding, echo.Embed("one two")) || slices.Equal(emb.Data[0].Embedding, emb.Data[1].Embedding) {
		t.Fatalf("embeddings are not the deterministic per-text vectors: %s", b)
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := echo.New("echo", nil).Send(ctx, &llm.Request{Body: llm.BytesBody([]byte(`{}`))})
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
