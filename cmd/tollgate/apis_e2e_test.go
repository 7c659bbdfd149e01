package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// apisConfig serves "echo" (built in), "m" from an OpenAI-shaped fake and
// "claude" from an Anthropic-shaped fake whose key comes from the
// environment.
func apisConfig(openaiURL, anthropicURL string) string {
	return `
[[providers]]
name = "echo"
type = "echo"

[[providers]]
name = "up"
type = "openai"
base_url = "` + openaiURL + `"

[[providers]]
name = "anth"
type = "anthropic"
base_url = "` + anthropicURL + `"
api_key_env = "TEST_ANTHROPIC_KEY"
anthropic_version = "2023-06-01"

[[models]]
name = "echo"
provider = "echo"

[[models]]
name = "m"
provider = "up"
upstream_model = "gpt-up"

[[models]]
name = "claude"
provider = "anth"
upstream_model = "claude-up"
`
}

// apisEnv is a required-mode server with two contributors, alice and bob,
// each with a login token and an API key.
type apisEnv struct {
	*authEnv
	up, anth             *llmtest.Server
	alice, bob           string // JWTs
	aliceKey, bobKey     string // tg_ keys
	aliceUser, bobUserID string
}

func newAPIsEnv(t *testing.T, environ ...string) *apisEnv {
	t.Helper()
	up, anth := llmtest.NewT(t), llmtest.NewT(t)
	environ = append([]string{"TOLLGATE_USAGE_FLUSH_INTERVAL=10ms"}, environ...)
	cfg := testConfigTOML(t, apisConfig(up.URL, anth.URL), environ...)
	deps := testDeps(nil)
	deps.getenv = mapEnv(map[string]string{"TEST_ANTHROPIC_KEY": "sk-ant-upstream"})
	e := &apisEnv{authEnv: startAuthEnv(t, cfg, slog.New(slog.DiscardHandler), &syncBuffer{}, deps), up: up, anth: anth}
	admin := e.setup()
	e.aliceUser = e.createUser(admin, "alice@example.com", adminPassword, "contributor")
	e.bobUserID = e.createUser(admin, "bob@example.com", adminPassword, "contributor")
	e.alice, e.bob = e.login("alice@example.com", adminPassword), e.login("bob@example.com", adminPassword)
	e.aliceKey, e.bobKey = e.newKey(e.alice), e.newKey(e.bob)
	return e
}

func (e *apisEnv) newKey(tok string) string {
	e.t.Helper()
	r := e.do("POST", "/api/keys", tok, map[string]any{"name": "sdk"})
	wantStatus(e.t, r, 201)
	return r.body["key"].(string)
}

// usageOf polls the caller's usage by model until model shows n requests.
func (e *apisEnv) usageOf(tok, model string, n int64) gateway.UsageGroup {
	e.t.Helper()
	var last []gateway.UsageGroup
	for range 300 {
		r, err := e.client(tok).Usage(e.t.Context(), client.UsageQuery{GroupBy: gateway.UsageByModel})
		if err != nil {
			e.t.Fatal(err)
		}
		last = r.Data
		for _, g := range r.Data {
			if g.Group == model && g.Requests == n {
				return g
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("usage of %s never showed %d requests: %+v", model, n, last)
	return gateway.UsageGroup{}
}

// sseFrames reads an SSE body into (event, data) pairs.
func sseFrames(t *testing.T, body io.Reader) [][2]string {
	t.Helper()
	var out [][2]string
	var ev string
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			out = append(out, [2]string{ev, strings.TrimPrefix(line, "data: ")})
			ev = ""
		}
	}
	return out
}

// rawStream posts body to path with hdr and returns the status and frames.
func (e *apisEnv) rawStream(path, body string, hdr ...string) (int, [][2]string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, sseFrames(e.t, resp.Body)
}

func responsesParams(model, input string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(input)}}
}

// TestResponsesAPIWithOpenAIGo: openai-go's Responses API, plain and
// streamed, against the echo model and a scriptable upstream through the
// real server; usage records; stored ids scoped to their creator.
func TestResponsesAPIWithOpenAIGo(t *testing.T) {
	t.Parallel()
	e := newAPIsEnv(t)
	ctx := context.Background()
	alice, bob := newOpenAIClient(e.url, e.alice), newOpenAIClient(e.url, e.bob)

	var echoID string
	t.Run("EchoPlain", func(t *testing.T) {
		res, err := alice.Responses.New(ctx, responsesParams("echo", "hello responses api"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.OutputText(), "hello responses api"; got != want {
			t.Fatalf("output_text = %q, want %q", got, want)
		}
		if res.Usage.InputTokens != 3 || res.Usage.OutputTokens != 3 || res.Usage.TotalTokens != 6 || res.Status != "completed" {
			t.Fatalf("usage/status = %+v %s, want 3/3/6 completed", res.Usage, res.Status)
		}
		echoID = res.ID
	})
	t.Run("EchoStream", func(t *testing.T) {
		stream := alice.Responses.NewStreaming(ctx, responsesParams("echo", "alpha beta gamma"))
		var text strings.Builder
		var completed responses.Response
		for stream.Next() {
			ev := stream.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				completed = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "alpha beta gamma" || completed.OutputText() != "alpha beta gamma" || completed.Usage.OutputTokens != 3 {
			t.Fatalf("streamed %q, completed %q usage %+v", text.String(), completed.OutputText(), completed.Usage)
		}
	})
	t.Run("EchoUsageRecorded", func(t *testing.T) {
		if g := e.usageOf(e.alice, "echo", 2); g.PromptTokens != 6 || g.CompletionTokens != 6 || g.Statuses.OK != 2 {
			t.Fatalf("echo usage = %+v, want 2 ok requests, 6 prompt and 6 completion tokens", g)
		}
	})
	t.Run("UpstreamPlainAndStream", func(t *testing.T) {
		e.up.SetReplies(llmtest.Reply{Words: []string{"Hi", " there"}, PromptTokens: 11})
		res, err := alice.Responses.New(ctx, responsesParams("m", "x"))
		if err != nil {
			t.Fatal(err)
		}
		got := e.up.Next(t)
		if got.Path != "/v1/responses" || !strings.Contains(string(got.Body), `"model":"gpt-up"`) || got.Header.Get("Authorization") != "" {
			t.Fatalf("upstream got %s %s auth %q", got.Path, got.Body, got.Header.Get("Authorization"))
		}
		if strings.Contains(string(got.Body), "stream_options") {
			t.Fatalf("upstream body %s: stream_options must not be injected on /v1/responses", got.Body)
		}
		if res.OutputText() != "Hi there" || res.Usage.InputTokens != 11 {
			t.Fatalf("response %q usage %+v", res.OutputText(), res.Usage)
		}
		stream := alice.Responses.NewStreaming(ctx, responsesParams("m", "x"))
		var text strings.Builder
		for stream.Next() {
			if ev := stream.Current(); ev.Type == "response.output_text.delta" {
				text.WriteString(ev.Delta)
			}
		}
		if err := stream.Err(); err != nil || text.String() != "Hi there" {
			t.Fatalf("stream = %q, %v", text.String(), err)
		}
		e.up.Next(t)
		if g := e.usageOf(e.alice, "m", 2); g.PromptTokens != 22 || g.CompletionTokens != 4 || g.Statuses.OK != 2 {
			t.Fatalf("usage of m = %+v, want 2 ok, 22 prompt, 4 completion tokens", g)
		}
	})
	t.Run("StoredIDsAreScoped", func(t *testing.T) {
		got, err := alice.Responses.Get(ctx, echoID, responses.ResponseGetParams{})
		if err != nil || got.ID != echoID || got.OutputText() != "hello responses api" {
			t.Fatalf("alice GET own response = %+v, %v", got, err)
		}
		_, err = bob.Responses.Get(ctx, echoID, responses.ResponseGetParams{})
		wantOpenAIError(t, err, 404, "not_found")
		wantOpenAIError(t, bob.Responses.Delete(ctx, echoID), 404, "not_found")
		_, err = bob.Responses.New(ctx, responses.ResponseNewParams{Model: "echo", PreviousResponseID: openai.String(echoID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("steal")}})
		wantOpenAIError(t, err, 404, "not_found")
		// Alice's own key is the same caller as her login.
		aliceKey := newOpenAIClient(e.url, e.aliceKey)
		if _, err := aliceKey.Responses.Get(ctx, echoID, responses.ResponseGetParams{}); err != nil {
			t.Fatalf("alice's key GET = %v", err)
		}
		if err := alice.Responses.Delete(ctx, echoID); err != nil {
			t.Fatalf("alice DELETE = %v", err)
		}
		_, err = alice.Responses.Get(ctx, echoID, responses.ResponseGetParams{})
		wantOpenAIError(t, err, 404, "not_found")
	})
	t.Run("UpstreamStoredResponse", func(t *testing.T) {
		e.up.SetReplies(llmtest.Reply{})
		res, err := alice.Responses.New(ctx, responsesParams("m", "x"))
		if err != nil {
			t.Fatal(err)
		}
		e.up.Next(t)
		got, err := alice.Responses.Get(ctx, res.ID, responses.ResponseGetParams{})
		if err != nil || got.ID != res.ID {
			t.Fatalf("GET = %+v, %v", got, err)
		}
		if r := e.up.Next(t); r.Method != "GET" || r.Path != "/v1/responses/"+res.ID {
			t.Fatalf("upstream got %s %s", r.Method, r.Path)
		}
		_, err = bob.Responses.Get(ctx, res.ID, responses.ResponseGetParams{})
		wantOpenAIError(t, err, 404, "not_found")
	})
	t.Run("CutStreamEndsWithErrorEvent", func(t *testing.T) {
		e.up.SetReplies(llmtest.Reply{Words: []string{"a", "b", "c"}, CutAfter: 3})
		status, frames := e.rawStream("/v1/responses", `{"model":"m","input":"x","stream":true}`, "Authorization", "Bearer "+e.alice)
		e.up.Next(t)
		if status != 200 || len(frames) != 4 {
			t.Fatalf("status %d frames %v, want 200 and 3 events + error", status, frames)
		}
		last := frames[len(frames)-1]
		if last[0] != "error" || !strings.Contains(last[1], `"type":"error","code":"upstream_error"`) || !strings.Contains(last[1], `"sequence_number":3`) {
			t.Fatalf("last frame = %v, want the Responses error event", last)
		}
		stream := alice.Responses.NewStreaming(ctx, responsesParams("m", "x"))
		for stream.Next() {
		}
		if stream.Err() == nil {
			t.Fatal("openai-go saw no error on a cut stream")
		}
		e.up.Next(t)
	})
	t.Run("ModelWithoutTheRoute", func(t *testing.T) {
		_, err := alice.Responses.New(ctx, responsesParams("claude", "x"))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "invalid_field" || apiErr.Param != "body.model" ||
			!strings.Contains(apiErr.Message, "its routes are /v1/messages") {
			t.Fatalf("err = %v, want 400 invalid_field naming /v1/messages", err)
		}
		r := e.do("POST", "/v1/chat/completions", e.alice, `{"model":"claude","messages":[{"role":"user","content":"x"}]}`)
		wantError(t, r, 400, "invalid_field", "body.model")
	})
}

func wantOpenAIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status || apiErr.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

func newAnthropicClient(base, key string) anthropic.Client {
	return anthropic.NewClient(anthropicoption.WithBaseURL(base+"/"), anthropicoption.WithAPIKey(key), anthropicoption.WithMaxRetries(0))
}

func messageParams(model, text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: model, MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}}
}

func messageText(m *anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// TestMessagesAPIWithAnthropicSDK: Anthropic's Go SDK (x-api-key: tg_...)
// against /v1/messages, plain and streamed, on the echo model and an
// Anthropic-shaped upstream; usage; errors in Anthropic's shape.
func TestMessagesAPIWithAnthropicSDK(t *testing.T) {
	t.Parallel()
	e := newAPIsEnv(t)
	ctx := context.Background()
	c := newAnthropicClient(e.url, e.aliceKey)

	t.Run("EchoPlainAndStream", func(t *testing.T) {
		m, err := c.Messages.New(ctx, messageParams("echo", "hello messages api"))
		if err != nil {
			t.Fatal(err)
		}
		if messageText(m) != "hello messages api" || m.Usage.InputTokens != 3 || m.Usage.OutputTokens != 3 || m.StopReason != "end_turn" {
			t.Fatalf("message = %q usage %+v stop %s", messageText(m), m.Usage, m.StopReason)
		}
		stream := c.Messages.NewStreaming(ctx, messageParams("echo", "one two three four"))
		var acc anthropic.Message
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if messageText(&acc) != "one two three four" || acc.Usage.OutputTokens != 4 {
			t.Fatalf("streamed %q usage %+v", messageText(&acc), acc.Usage)
		}
		if g := e.usageOf(e.alice, "echo", 2); g.PromptTokens != 7 || g.CompletionTokens != 7 {
			t.Fatalf("echo usage = %+v, want 7 prompt and 7 completion tokens", g)
		}
	})
	t.Run("UpstreamPlainAndStream", func(t *testing.T) {
		e.anth.SetReplies(llmtest.Reply{Words: []string{"Bonjour", " monde"}, PromptTokens: 9})
		m, err := c.Messages.New(ctx, messageParams("claude", "x"))
		if err != nil {
			t.Fatal(err)
		}
		got := e.anth.Next(t)
		if got.Path != "/v1/messages" || got.Header.Get("X-Api-Key") != "sk-ant-upstream" || got.Header.Get("Anthropic-Version") != "2023-06-01" ||
			got.Header.Get("Authorization") != "" || !strings.Contains(string(got.Body), `"model":"claude-up"`) {
			t.Fatalf("upstream got %s key %q version %q auth %q body %s", got.Path, got.Header.Get("X-Api-Key"),
				got.Header.Get("Anthropic-Version"), got.Header.Get("Authorization"), got.Body)
		}
		if messageText(m) != "Bonjour monde" || m.Usage.InputTokens != 9 {
			t.Fatalf("message %q usage %+v", messageText(m), m.Usage)
		}
		stream := c.Messages.NewStreaming(ctx, messageParams("claude", "x"))
		var acc anthropic.Message
		for stream.Next() {
			_ = acc.Accumulate(stream.Current())
		}
		if err := stream.Err(); err != nil || messageText(&acc) != "Bonjour monde" {
			t.Fatalf("stream %q, %v", messageText(&acc), err)
		}
		e.anth.Next(t)
		if g := e.usageOf(e.alice, "claude", 2); g.PromptTokens != 18 || g.CompletionTokens != 4 || g.Statuses.OK != 2 {
			t.Fatalf("claude usage = %+v, want 2 ok, 18 prompt, 4 completion tokens", g)
		}
	})
	t.Run("BearerToo", func(t *testing.T) {
		r := e.do("POST", "/v1/messages", e.alice, `{"model":"echo","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
		wantStatus(t, r, 200)
	})
	t.Run("ErrorsInAnthropicShape", func(t *testing.T) {
		body := `{"model":"echo","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
		for _, tc := range []struct {
			name   string
			tok    string
			hdr    []string
			body   string
			status int
			typ    string
			prefix string
		}{
			{"NoCredential", "", nil, body, 401, "authentication_error", "missing_authorization: "},
			{"BadKey", "", []string{"X-Api-Key", "tg_nope"}, body, 401, "authentication_error", "invalid_authorization: "},
			{"TwoCredentials", e.alice, []string{"X-Api-Key", e.aliceKey}, body, 400, "invalid_request_error", "ambiguous_credentials: "},
			{"UnknownModel", e.alice, nil, `{"model":"nope","max_tokens":5,"messages":[]}`, 404, "not_found_error", "model_not_found: "},
			{"ChatModel", e.alice, nil, `{"model":"m","max_tokens":5,"messages":[]}`, 400, "invalid_request_error", "invalid_field: The model \"m\" is not served on /v1/messages; its routes are /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses. (body.model)"},
			{"BadJSON", e.alice, nil, `{"model":`, 400, "invalid_request_error", "invalid_json: "},
			{"EchoNeedsMaxTokens", e.alice, nil, `{"model":"echo","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "missing_field: "},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("POST", "/v1/messages", tc.tok, tc.body, tc.hdr...)
				inner, _ := r.body["error"].(map[string]any)
				msg, _ := inner["message"].(string)
				if r.status != tc.status || r.body["type"] != "error" || inner["type"] != tc.typ || len(inner) != 2 || !strings.HasPrefix(msg, tc.prefix) {
					t.Fatalf("= %d %s, want %d {type:error, error:{type:%s, message:%s...}}", r.status, r.raw, tc.status, tc.typ, tc.prefix)
				}
			})
		}
		_, err := c.Messages.New(ctx, messageParams("nope", "x"))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("SDK error = %v, want a 404 *anthropic.Error", err)
		}
		e.anth.SetReplies(llmtest.Reply{Status: 400, Message: "bad things"})
		r := e.do("POST", "/v1/messages", e.alice, `{"model":"claude","max_tokens":5,"messages":[]}`)
		e.anth.Next(t)
		if inner, _ := r.body["error"].(map[string]any); r.status != 400 || inner["type"] != "invalid_request_error" || inner["message"] != "upstream_error: bad things" {
			t.Fatalf("upstream 400 = %d %s", r.status, r.raw)
		}
	})
	t.Run("CutStreamEndsWithErrorEvent", func(t *testing.T) {
		e.anth.SetReplies(llmtest.Reply{Words: []string{"a", "b", "c"}, CutAfter: 3})
		status, frames := e.rawStream("/v1/messages", `{"model":"claude","max_tokens":9,"stream":true,"messages":[]}`, "X-Api-Key", e.aliceKey)
		e.anth.Next(t)
		want := [2]string{"error", `{"type":"error","error":{"type":"api_error","message":"upstream_error: The upstream connection failed."}}`}
		if status != 200 || len(frames) != 4 || frames[3] != want {
			t.Fatalf("status %d frames %q, want 3 events then %q", status, frames, want)
		}
		stream := c.Messages.NewStreaming(ctx, messageParams("claude", "x"))
		for stream.Next() {
		}
		if stream.Err() == nil {
			t.Fatal("the SDK saw no error on a cut stream")
		}
		e.anth.Next(t)
	})
	t.Run("OpenAPIListsTheRoutes", func(t *testing.T) {
		r := e.do("GET", "/openapi.json", "", nil)
		paths, _ := r.body["paths"].(map[string]any)
		ref := func(path, method, status string) string {
			op, _ := paths[path].(map[string]any)[method].(map[string]any)
			resp, _ := op["responses"].(map[string]any)[status].(map[string]any)
			schema, _ := resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
			s, _ := schema["$ref"].(string)
			return s
		}
		for _, tc := range []struct{ path, method, status, want string }{
			{"/v1/responses", "post", "429", "#/components/schemas/ErrorBody"},
			{"/v1/responses/{id}", "get", "404", "#/components/schemas/ErrorBody"},
			{"/v1/responses/{id}", "delete", "404", "#/components/schemas/ErrorBody"},
			{"/v1/messages", "post", "429", "#/components/schemas/AnthropicError"},
		} {
			if got := ref(tc.path, tc.method, tc.status); got != tc.want {
				t.Errorf("%s %s %s error schema = %q, want %q", tc.method, tc.path, tc.status, got, tc.want)
			}
		}
	})
	t.Run("ModelNotAllowed", func(t *testing.T) {
		r := e.do("POST", "/api/keys", e.alice, map[string]any{"name": "only-m", "allowed_models": []string{"m"}})
		wantStatus(t, r, 201)
		only := newAnthropicClient(e.url, r.body["key"].(string))
		_, err := only.Messages.New(ctx, messageParams("echo", "x"))
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || !strings.Contains(apiErr.RawJSON(), `"message":"model_not_allowed: `) {
			t.Fatalf("err = %v, want 403 model_not_allowed", err)
		}
	})
}

// TestAPIRoutesLimitsAndBudgets: rate limits and budgets apply on
// /v1/responses and /v1/messages, each answering 429 in its own shape.
func TestAPIRoutesLimitsAndBudgets(t *testing.T) {
	t.Parallel()
	t.Run("RateLimit", func(t *testing.T) {
		t.Parallel()
		e := newAPIsEnv(t)
		// Each caller gets one request a minute on each of the two routes.
		c := e.client(e.login("admin@example.com", adminPassword))
		pol, err := c.CreatePolicy(t.Context(), httpapi.PolicyBody{Name: "one", RequestsPerMinute: 1, Burst: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, route := range []string{"POST /v1/responses", "POST /v1/messages"} {
			if _, err := c.CreateAssignment(t.Context(), httpapi.AssignmentBody{PolicyID: pol.ID, SubjectType: "route", Subject: route}); err != nil {
				t.Fatal(err)
			}
		}
		wantStatus(t, e.do("POST", "/v1/responses", e.alice, `{"model":"echo","input":"x"}`), 200)
		r := e.do("POST", "/v1/responses", e.alice, `{"model":"echo","input":"x"}`)
		wantError(t, r, 429, "rate_limit_exceeded", "")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		wantStatus(t, e.do("POST", "/v1/messages", e.bob, `{"model":"echo","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`), 200)
		r = e.do("POST", "/v1/messages", e.bob, `{"model":"echo","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`)
		inner, _ := r.body["error"].(map[string]any)
		if msg, _ := inner["message"].(string); r.status != 429 || inner["type"] != "rate_limit_error" || !strings.HasPrefix(msg, "rate_limit_exceeded: ") || r.header.Get("Retry-After") == "" {
			t.Fatalf("= %d %s %v, want Anthropic's 429 rate_limit_error", r.status, r.raw, r.header)
		}
	})
	t.Run("Budget", func(t *testing.T) {
		t.Parallel()
		e := newAPIsEnv(t)
		admin := e.login("admin@example.com", adminPassword)
		createBudget(t, e.url, admin, fmt.Sprintf(`{"subject_type":"user","subject":%q,"period":"total","max_tokens":40}`, e.aliceUser))
		// The worst case of a request is its output limit plus a quarter
		// of its body: 64 output tokens cannot fit in 40.
		r := e.do("POST", "/v1/responses", e.alice, `{"model":"echo","input":"x","max_output_tokens":64}`)
		wantError(t, r, 429, "quota_exceeded", "")
		r = e.do("POST", "/v1/messages", e.alice, `{"model":"echo","max_tokens":64,"messages":[{"role":"user","content":"x"}]}`)
		inner, _ := r.body["error"].(map[string]any)
		if msg, _ := inner["message"].(string); r.status != 429 || inner["type"] != "rate_limit_error" || !strings.HasPrefix(msg, "quota_exceeded: ") {
			t.Fatalf("= %d %s, want Anthropic's 429 quota_exceeded", r.status, r.raw)
		}
		// A request that fits is admitted and charged its real use.
		wantStatus(t, e.do("POST", "/v1/messages", e.alice, `{"model":"echo","max_tokens":5,"messages":[{"role":"user","content":"a b"}]}`), 200)
		if g := e.usageOf(e.alice, "echo", 1); !reflect.DeepEqual(g, gateway.UsageGroup{Group: "echo", Requests: 1, PromptTokens: 2, CompletionTokens: 2, Statuses: gateway.UsageStatuses{OK: 1}}) {
			t.Fatalf("usage = %+v", g)
		}
	})
}
