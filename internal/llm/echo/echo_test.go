package echo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/echo"
)

func fixedNow() time.Time { return time.Unix(1700000000, 0) }

func send(t *testing.T, body string, stream bool) (*llm.Response, []byte) {
	t.Helper()
	p := echo.New("echo", fixedNow)
	resp, err := p.Send(context.Background(), &llm.Request{Body: []byte(body), Stream: stream})
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

func TestBadRequests(t *testing.T) {
	tests := []struct{ name, body, param string }{
		{"NotJSON", `{`, "messages"},
		{"NoMessages", `{"model":"echo","messages":[]}`, "messages"},
		{"ZeroMaxTokens", `{"model":"echo","messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "max_tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := send(t, tc.body, false)
			if got, want := resp.StatusCode, http.StatusBadRequest; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			e := parse(t, string(b))["error"].(map[string]any)
			if got, want := e["type"], "invalid_request_error"; got != want {
				t.Fatalf("error.type = %v, want %v", got, want)
			}
			if got, want := e["param"], tc.param; got != want {
				t.Fatalf("error.param = %v, want %v", got, want)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := echo.New("echo", nil).Send(ctx, &llm.Request{Body: []byte(`{}`)})
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
