package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
)

func TestCredentialsNeverForwarded(t *testing.T) {
	h, up := oneUpstream(t)
	// An app credential, so the router accepts X-End-User-Id (h.post sends
	// it) and the test shows that it stops at the gateway too.
	h.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "key1", EndUserMode: true, EndUserID: "alice"}
	resp := h.post(t, `{"model":"fast","messages":[]}`,
		"Authorization", "Bearer tg_client_secret",
		"X-API-Key", "tg_other_secret",
		"Cookie", "tollgate_session=s3cr3t; other=1",
		"Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	_, _ = io.Copy(io.Discard, resp.Body)
	got := up.Next(t).Header
	if v := got.Values("Authorization"); len(v) != 1 || v[0] != "Bearer sk-local" {
		t.Fatalf("upstream Authorization = %q, want the provider's key only", v)
	}
	for _, k := range []string{"X-Api-Key", "Cookie", "X-End-User-Id"} {
		if v := got.Values(k); len(v) != 0 {
			t.Fatalf("upstream %s = %q, want none", k, v)
		}
	}
	if got, want := got.Get("X-Request-Id"), "req-test"; got != want {
		t.Fatalf("upstream X-Request-Id = %q, want %q", got, want)
	}
	if got, want := got.Get("Traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"; got != want {
		t.Fatalf("upstream Traceparent = %q, want %q", got, want)
	}
}

func TestUsageRecordFields(t *testing.T) {
	h, _ := oneUpstream(t, llmtest.Reply{PromptTokens: 12, Words: []string{"x", "y"}})
	h.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "key9", EndUserMode: true, EndUserID: "alice"}
	resp := h.post(t, streamUsageBody)
	readEvents(t, resp.Body)
	h.waitDone(t)
	rec := h.usage.only(t)
	if rec.CreatedAt.IsZero() || rec.Latency <= 0 || rec.TTFT <= 0 {
		t.Fatalf("usage times = %v, %v, %v; want set", rec.CreatedAt, rec.Latency, rec.TTFT)
	}
	rec.CreatedAt, rec.Latency, rec.TTFT = time.Time{}, 0, 0
	want := gateway.UsageRecord{RequestID: "req-test", UserID: "owner", KeyID: "key9", EndUserID: "alice",
		Model: "fast", ServedModel: "fast", Provider: "local", PromptTokens: 12, CompletionTokens: 2,
		Status: gateway.UsageOK, HTTPStatus: 200}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Fatalf("usage mismatch (-want +got):\n%s", diff)
	}
}

func TestEchoProvider(t *testing.T) {
	h := newHarness(t, echoModel())
	if diff := cmp.Diff([]proxy.ModelInfo{{ID: "echo", Provider: "echo", UpstreamModel: "echo"}}, h.px.Models()); diff != "" {
		t.Fatalf("Models mismatch (-want +got):\n%s", diff)
	}
	t.Run("NonStream", func(t *testing.T) {
		resp := h.post(t, `{"model":"echo","max_tokens":3,"messages":[{"role":"user","content":"one two three four"}]}`)
		var c struct {
			Model   string `json:"model"`
			Choices []struct {
				Message      struct{ Content string } `json:"message"`
				FinishReason string                   `json:"finish_reason"`
			} `json:"choices"`
			Usage map[string]int `json:"usage"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
		if c.Model != "echo" || c.Choices[0].Message.Content != "one two three" || c.Choices[0].FinishReason != "length" {
			t.Fatalf("completion = %+v, want echo of 3 words cut by length", c)
		}
		if diff := cmp.Diff(map[string]int{"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}, c.Usage); diff != "" {
			t.Fatalf("usage mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("Stream", func(t *testing.T) {
		h.waitDone(t)
		h.usage.recs = nil
		resp := h.post(t, `{"model":"echo","stream":true,"messages":[{"role":"user","content":"hello big world"}]}`)
		events := readEvents(t, resp.Body)
		var text strings.Builder
		for _, ev := range events[:len(events)-1] {
			var c struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal([]byte(ev), &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Choices) == 0 {
				t.Fatalf("usage chunk forwarded to a client that did not ask: %s", ev)
			}
			text.WriteString(c.Choices[0].Delta.Content)
		}
		if got, want := text.String(), "hello big world"; got != want {
			t.Fatalf("streamed text = %q, want %q", got, want)
		}
		if got, want := len(events), 1+3+1+1; got != want {
			t.Fatalf("events = %d, want %d (role, 3 words, finish, [DONE])", got, want)
		}
		h.waitDone(t)
		rec := h.usage.only(t)
		if rec.PromptTokens != 3 || rec.CompletionTokens != 3 || rec.Provider != "echo" || rec.Status != gateway.UsageOK {
			t.Fatalf("usage = %+v, want 3/3 from echo, ok", rec)
		}
	})
	t.Run("OtherModelNotFound", func(t *testing.T) {
		resp := h.post(t, `{"model":"gpt-4o","messages":[]}`)
		expectError(t, resp, 404, "not_found_error", "model_not_found", `The model "gpt-4o" does not exist.`, "body.model")
	})
}

func TestModelsInConfigOrder(t *testing.T) {
	px, err := proxy.New(proxy.Options{
		Models: []proxy.Model{
			{Name: "b", Provider: openai.New(openai.Options{Name: "p1", BaseURL: "http://127.0.0.1:1/v1"}), UpstreamModel: "up-b"},
			{Name: "a", Provider: echo.New("e", nil)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []proxy.ModelInfo{{ID: "b", Provider: "p1", UpstreamModel: "up-b"}, {ID: "a", Provider: "e", UpstreamModel: "a"}}
	if diff := cmp.Diff(want, px.Models()); diff != "" {
		t.Fatalf("Models mismatch (-want +got):\n%s", diff)
	}
	if !px.HasModel("a") || px.HasModel("up-b") {
		t.Fatal("HasModel answers wrong")
	}
}

// TestNewRejectsBadModels: New refuses a routing table it cannot serve,
// naming the entry. (Unknown provider types and providers are config
// errors, checked where cmd/tollgate builds the table.)
func TestNewRejectsBadModels(t *testing.T) {
	e := echo.New("e", nil)
	for _, tc := range []struct {
		name   string
		models []proxy.Model
		want   string
	}{
		{"UnknownFallback", []proxy.Model{{Name: "m", Provider: e, Fallbacks: []string{"z"}}}, `Models[0].Fallbacks: "z"`},
		{"SelfFallback", []proxy.Model{{Name: "m", Provider: e, Fallbacks: []string{"m"}}}, `Models[0].Fallbacks: "m"`},
		{"NoProvider", []proxy.Model{{Name: "m", Provider: e}, {Name: "n"}}, "Models[1].Provider"},
		{"NoName", []proxy.Model{{Provider: e}}, "Models[0].Name"},
		{"Duplicate", []proxy.Model{{Name: "m", Provider: e}, {Name: "m", Provider: e}}, `Models[1].Name: "m" is listed twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proxy.New(proxy.Options{Models: tc.models})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	up := llmtest.NewT(t, llmtest.Reply{PromptTokens: 9, Words: []string{"a", "b", "c"}})
	reg := prometheus.NewRegistry()
	px, err := proxy.New(proxy.Options{
		Models:     []proxy.Model{model("fast", provider("local", up.URL, time.Minute), "up")},
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, px)
	for _, body := range []string{streamBody, `{"model":"fast","messages":[]}`} {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const want = `
# HELP tollgate_llm_tokens_total Tokens used by completions, by configured model, provider and type (prompt or completion).
# TYPE tollgate_llm_tokens_total counter
tollgate_llm_tokens_total{model="fast",provider="local",type="completion"} 6
tollgate_llm_tokens_total{model="fast",provider="local",type="prompt"} 18
# HELP tollgate_upstream_requests_total Upstream completion attempts by configured model, provider and outcome (ok, canceled, incomplete, or an error code).
# TYPE tollgate_upstream_requests_total counter
tollgate_upstream_requests_total{model="fast",outcome="ok",provider="local"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tollgate_llm_tokens_total", "tollgate_upstream_requests_total"); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.CollectAndCount(reg, "tollgate_upstream_ttft_seconds"), 1; got != want {
		t.Fatalf("ttft series = %d, want %d", got, want)
	}
	if got, want := testutil.CollectAndCount(reg, "tollgate_upstream_duration_seconds"), 1; got != want {
		t.Fatalf("latency series = %d, want %d", got, want)
	}
}

// newServer serves px behind the real router, as the local admin.
func newServer(t *testing.T, px *proxy.Proxy) *httptestServer {
	t.Helper()
	return serveRouter(t, px, nil, nil)
}

// TestForwardOtherEndpoints: /v1/completions and /v1/embeddings go through
// the same exchange as chat (here to the echo provider): the answer passes
// through, a streamed completion is relayed event by event, and each
// request leaves one usage record with its tokens.
func TestForwardOtherEndpoints(t *testing.T) {
	h := newHarness(t, echoModel())
	for _, tc := range []struct {
		name, path, body string
		stream           bool
		prompt, compl    int64
	}{
		{"Completion", "/v1/completions", `{"model":"echo","prompt":"a b c"}`, false, 3, 3},
		{"CompletionStream", "/v1/completions", `{"model":"echo","prompt":"a b","stream":true}`, true, 2, 2},
		{"Embeddings", "/v1/embeddings", `{"model":"echo","input":["a b","c"]}`, false, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.usage.all())
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			h.waitDone(t)
			wantCT := "application/json"
			if tc.stream {
				wantCT = "text/event-stream"
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantCT {
				t.Fatalf("answer = %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if tc.stream && !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
				t.Fatalf("stream does not end with [DONE]: %s", b)
			}
			recs := h.usage.all()
			if len(recs) != before+1 {
				t.Fatalf("usage records = %d, want %d", len(recs), before+1)
			}
			r := recs[len(recs)-1]
			if r.Status != gateway.UsageOK || r.PromptTokens != tc.prompt || r.CompletionTokens != tc.compl || r.Model != "echo" {
				t.Fatalf("usage = %+v, want ok with %d/%d tokens", r, tc.prompt, tc.compl)
			}
		})
	}
}

// TestUsageCost prices a record at the model that served it: after a
// fallback, the fallback's prices.
func TestUsageCost(t *testing.T) {
	primary := llmtest.NewT(t, llmtest.Reply{Status: 503})
	second := llmtest.NewT(t, llmtest.Reply{PromptTokens: 1000, Words: []string{"a", "b", "c", "d"}})
	pm := model("fast", provider("a", primary.URL, time.Minute), "up-a", "cheap")
	pm.Price = gateway.Price{Input: 10_000_000, Output: 20_000_000}
	sm := model("cheap", provider("b", second.URL, time.Minute), "up-b")
	sm.Price = gateway.Price{Input: gateway.PriceFromUnits(0.15), Output: gateway.PriceFromUnits(0.60)}
	h := newHarness(t, pm, sm)
	resp := h.post(t, streamUsageBody)
	readEvents(t, resp.Body)
	h.waitDone(t)
	rec := h.usage.only(t)
	// 1000 prompt tokens × 0.15/M = 150 micros, 4 completion × 0.60/M = 2.4 → 152.
	if rec.ServedModel != "cheap" || rec.PromptTokens != 1000 || rec.CompletionTokens != 4 || rec.Cost != 152 {
		t.Fatalf("record = served %q, %d+%d tokens, cost %d; want cheap, 1000+4, 152", rec.ServedModel, rec.PromptTokens, rec.CompletionTokens, rec.Cost)
	}
}
