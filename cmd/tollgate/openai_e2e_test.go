package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// newOpenAIClient points the official Go client at a live Tollgate.
func newOpenAIClient(base, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func TestOpenAIGoClient(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), testDeps(sqltest.SQLite(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(context.Background()) })
	base := newHTTPTest(t, a)
	client := newOpenAIClient(base, "unused-in-open-mode")
	ctx := context.Background()

	t.Run("Models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "echo" || page.Data[0].OwnedBy != "echo" {
			t.Fatalf("models = %+v, want [echo owned by echo]", page.Data)
		}
	})
	t.Run("Info", func(t *testing.T) {
		r := call(t, "GET", base+"/v1/info", "")
		models, _ := r.body["models"].([]any)
		if r.status != 200 || r.body["version"] != version || len(models) != 1 {
			t.Fatalf("/v1/info = %d %v", r.status, r.body)
		}
		m := models[0].(map[string]any)
		if m["id"] != "echo" || m["provider"] != "echo" || m["upstream_model"] != "echo" || len(m) != 3 {
			t.Fatalf("/v1/info model = %v, want {id, provider, upstream_model} of echo", m)
		}
	})
	t.Run("PlainCompletion", func(t *testing.T) {
		res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello from go")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Choices[0].Message.Content, "hello from go"; got != want {
			t.Fatalf("content = %q, want %q", got, want)
		}
		if got, want := res.Usage.CompletionTokens, int64(3); got != want {
			t.Fatalf("completion_tokens = %d, want %d", got, want)
		}
		if res.Usage.TotalTokens != res.Usage.PromptTokens+res.Usage.CompletionTokens {
			t.Fatalf("usage does not add up: %+v", res.Usage)
		}
	})
	t.Run("StreamingReassemblesExactly", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    "echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("alpha beta gamma delta")},
		})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			chunks++
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got, want := acc.Choices[0].Message.Content, "alpha beta gamma delta"; got != want {
			t.Fatalf("streamed content = %q, want %q", got, want)
		}
		if chunks < 4 {
			t.Fatalf("got %d chunks, want one per word at least", chunks)
		}
	})
	t.Run("StreamingWithUsage", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "echo",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var last openai.ChatCompletionChunk
		for stream.Next() {
			last = stream.Current()
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if got, want := last.Usage.CompletionTokens, int64(2); got != want {
			t.Fatalf("final chunk usage.completion_tokens = %d, want %d", got, want)
		}
	})
	t.Run("ModelByID", func(t *testing.T) {
		m, err := client.Models.Get(ctx, "echo")
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != "echo" || m.OwnedBy != "echo" || m.Object != "model" {
			t.Fatalf("model = %+v", m)
		}
		_, err = client.Models.Get(ctx, "nope")
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Type != "not_found_error" {
			t.Fatalf("unknown model: %v, want 404 not_found_error/model_not_found", err)
		}
	})
	t.Run("LegacyCompletion", func(t *testing.T) {
		res, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:  "echo",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("legacy text here")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Text != "legacy text here" || res.Usage.PromptTokens != 3 || res.Usage.CompletionTokens != 3 {
			t.Fatalf("completion = %+v", res)
		}
		stream := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model:  "echo",
			Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("one two three")},
		})
		var text string
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				text += c.Text
			}
		}
		if err := stream.Err(); err != nil || text != "one two three" {
			t.Fatalf("streamed completion = %q, %v", text, err)
		}
	})
	t.Run("Embeddings", func(t *testing.T) {
		res, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "echo",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first text", "second"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 2 || res.Data[1].Index != 1 || len(res.Data[0].Embedding) != 8 || res.Usage.PromptTokens != 3 {
			t.Fatalf("embeddings = %+v", res)
		}
		if !slices.Equal(res.Data[0].Embedding, echo.Embed("first text")) {
			t.Fatalf("embedding of %q = %v, want %v", "first text", res.Data[0].Embedding, echo.Embed("first text"))
		}
	})
	t.Run("EchoRefusalIsTollgates400", func(t *testing.T) {
		// A client's own mistake on the built-in echo model is Tollgate's
		// 400 invalid_request_error, not an upstream error.
		r := call(t, "POST", base+"/v1/chat/completions", `{"model":"echo"}`)
		typ, code, param := errCode(r)
		if r.status != 400 || typ != "invalid_request_error" || code != "missing_field" || param != "body.messages" {
			t.Fatalf("missing messages = %d %s/%s %v, want 400 invalid_request_error/missing_field body.messages", r.status, typ, code, param)
		}
		r = call(t, "POST", base+"/v1/embeddings", `{"model":"echo","input":"x","stream":true}`)
		typ, code, param = errCode(r)
		if r.status != 400 || typ != "invalid_request_error" || code != "invalid_field" || param != "body.stream" {
			t.Fatalf("streamed embeddings = %d %s/%s %v, want 400 invalid_field body.stream", r.status, typ, code, param)
		}
	})
	t.Run("ErrorSurfacesAsAPIError", func(t *testing.T) {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "no-such-model",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v, want *openai.Error", err)
		}
		if apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Type != "not_found_error" {
			t.Fatalf("api error = %d %s/%s, want 404 not_found_error/model_not_found", apiErr.StatusCode, apiErr.Type, apiErr.Code)
		}
	})
}
