package proxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/proxy"
)

func textMsg(role, text string) llm.Message {
	b, _ := json.Marshal(text)
	return llm.Message{Role: role, Content: b}
}

var completeMsgs = []llm.Message{textMsg("system", "be brief"), textMsg("user", "hi")}

func TestCompleteWholeAnswer(t *testing.T) {
	h, up := oneUpstream(t, llmtest.Reply{Words: []string{"Hello", " world"}, PromptTokens: 7})
	var deltas []string
	res, err := h.px.Complete(context.Background(), proxy.CompleteRequest{
		Principal: h.principal, Model: "fast", Messages: completeMsgs, RequestID: "req-c",
		OnDelta: func(d string) { deltas = append(deltas, d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := proxy.Result{Content: "Hello world", ServedModel: "fast", Status: gateway.UsageOK,
		Usage: llm.Usage{PromptTokens: 7, CompletionTokens: 2, TotalTokens: 9}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Fatalf("result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Hello", " world"}, deltas); diff != "" {
		t.Fatalf("deltas (-want +got):\n%s", diff)
	}
	got := up.Next(t)
	var body struct {
		Model         string        `json:"model"`
		Messages      []llm.Message `json:"messages"`
		Stream        bool          `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Model != "org/Fast-Model-7B" || !body.Stream || !body.StreamOptions.IncludeUsage || len(body.Messages) != 2 ||
		body.Messages[0].Text() != "be brief" || body.Messages[1].Text() != "hi" {
		t.Fatalf("upstream body = %s", got.Body)
	}
	if got.Header.Get("X-Request-Id") != "req-c" {
		t.Fatalf("upstream X-Request-Id = %q", got.Header.Get("X-Request-Id"))
	}
	rec := h.usage.only(t)
	if rec.Model != "fast" || rec.UserID != "u1" || rec.KeyID != "k1" || rec.Status != gateway.UsageOK ||
		rec.PromptTokens != 7 || rec.CompletionTokens != 2 || rec.RequestID != "req-c" {
		t.Fatalf("usage record = %+v", rec)
	}
}

func TestCompleteCutStreamKeepsPartialText(t *testing.T) {
	h, _ := oneUpstream(t, llmtest.Reply{Words: []string{"Hello", " world"}, CutAfter: 2})
	res, err := h.px.Complete(context.Background(), proxy.CompleteRequest{Principal: h.principal, Model: "fast", Messages: completeMsgs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Content != "Hello" || res.Status != gateway.UsageIncomplete || res.Err == nil || res.Err.Code != "upstream_error" {
		t.Fatalf("result = %+v (err %+v)", res, res.Err)
	}
	if rec := h.usage.only(t); rec.Status != gateway.UsageIncomplete {
		t.Fatalf("usage status = %q", rec.Status)
	}
}

func TestCompleteUpstreamErrorEvent(t *testing.T) {
	h, _ := oneUpstream(t, llmtest.Reply{Words: []string{"Hello", " world"}, ErrorAfter: 2, Message: "model overloaded"})
	res, err := h.px.Complete(context.Background(), proxy.CompleteRequest{Principal: h.principal, Model: "fast", Messages: completeMsgs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Content != "Hello" || res.Status != gateway.UsageIncomplete || res.Err == nil || res.Err.Code != "upstream_error" {
		t.Fatalf("result = %+v (err %+v)", res, res.Err)
	}
}

func TestCompleteErrorsBeforeAnswer(t *testing.T) {
	t.Run("UnknownModel", func(t *testing.T) {
		h, _ := oneUpstream(t)
		_, err := h.px.Complete(context.Background(), proxy.CompleteRequest{Model: "nope", Messages: completeMsgs})
		ge, ok := gateway.AsError(err)
		if !ok || ge.Kind != gateway.KindNotFound || ge.Code != "model_not_found" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Upstream500", func(t *testing.T) {
		h, _ := oneUpstream(t, llmtest.Reply{Status: 500})
		_, err := h.px.Complete(context.Background(), proxy.CompleteRequest{Principal: h.principal, Model: "fast", Messages: completeMsgs})
		ge, ok := gateway.AsError(err)
		if !ok || ge.Kind != gateway.KindUpstream || ge.Code != "upstream_error" {
			t.Fatalf("err = %v", err)
		}
		if rec := h.usage.only(t); rec.Status != gateway.UsageError || rec.HTTPStatus != 502 {
			t.Fatalf("usage = %+v", rec)
		}
	})
	t.Run("FallbackServes", func(t *testing.T) {
		bad := llmtest.NewT(t, llmtest.Reply{Status: 503})
		good := llmtest.NewT(t, llmtest.Reply{Words: []string{"ok"}})
		h := newHarness(t, model("main", provider("a", bad.URL, time.Minute), "m1", "backup"),
			model("backup", provider("b", good.URL, time.Minute), "m2"))
		res, err := h.px.Complete(context.Background(), proxy.CompleteRequest{Principal: h.principal, Model: "main", Messages: completeMsgs})
		if err != nil {
			t.Fatal(err)
		}
		if res.Content != "ok" || res.ServedModel != "backup" || res.Status != gateway.UsageOK {
			t.Fatalf("result = %+v", res)
		}
	})
}

func TestCompleteCanceledMidStream(t *testing.T) {
	h, up := oneUpstream(t, llmtest.Reply{Words: []string{"Hello", " world"}, HangAfter: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := h.px.Complete(ctx, proxy.CompleteRequest{Principal: h.principal, Model: "fast", Messages: completeMsgs,
		OnDelta: func(string) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Content != "Hello" || res.Status != gateway.UsageCanceled {
		t.Fatalf("result = %+v", res)
	}
	if !up.Next(t).Canceled {
		t.Fatal("upstream request was not canceled")
	}
}

func TestCompleteCanceledBeforeAnswer(t *testing.T) {
	h, _ := oneUpstream(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.px.Complete(ctx, proxy.CompleteRequest{Principal: h.principal, Model: "fast", Messages: completeMsgs})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestCompleteEcho(t *testing.T) {
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{echoModel()}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := px.Complete(context.Background(), proxy.CompleteRequest{Model: "echo",
		Messages: []llm.Message{textMsg("user", "first"), textMsg("assistant", "x"), textMsg("user", "say this back")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Content != "say this back" || res.Status != gateway.UsageOK || res.Usage.CompletionTokens != 3 {
		t.Fatalf("result = %+v", res)
	}
}
