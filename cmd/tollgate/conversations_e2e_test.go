package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

func TestConversationsWired(t *testing.T) {
	t.Parallel()
	c := client.New(newTestApp(t))
	conv, err := c.CreateConversation(t.Context(), httpapi.ConversationRequest{Title: ptr("wired")})
	if err != nil || conv.Title != "wired" {
		t.Fatalf("create = %+v, %v", conv, err)
	}
	r, err := c.PostMessage(t.Context(), conv.ID, httpapi.PostMessageRequest{Content: ptr("one two three")})
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if a := r.AssistantMessage; a.Content != "one two three" || a.Status != "complete" || a.Model == nil || *a.Model != "echo" {
		t.Fatalf("assistant = %+v", a)
	}
}

func TestStartupSweepMarksPendingMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := sqltest.SQLite(t)
	o := gateway.Owner{UserID: gateway.LocalUserID}
	c, err := st.CreateConversation(ctx, o, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	// A crash between storing the exchange and finishing the reply.
	x, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: "hi", Model: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, testConfig(t), slog.New(slog.DiscardHandler), testDeps(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close(ctx) })
	msgs, err := st.ListMessages(ctx, o, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].ID != x.Assistant.ID || msgs[1].Status != gateway.MessageIncomplete {
		t.Fatalf("after start-up = %+v", msgs)
	}
}

func TestCLIChat(t *testing.T) {
	t.Parallel()
	base := newTestApp(t)
	run := func(stdin string, args ...string) (string, string, error) {
		return runCLI([]string{"TOLLGATE_SERVER=" + base}, stdin, args...)
	}
	out, errOut, err := run("", "chat", "one two three")
	if err != nil || out != "one two three\n" {
		t.Fatalf("chat = %q, %q, %v", out, errOut, err)
	}
	id, ok := strings.CutPrefix(strings.TrimSpace(errOut), "conversation ")
	id, _, _ = strings.Cut(id, " ")
	if !ok || !strings.HasPrefix(id, "conv_") || !strings.HasSuffix(errOut, "(model echo)\n") {
		t.Fatalf("stderr = %q", errOut)
	}
	out, _, err = run("first line\n\nsecond line\n", "chat", "--conversation", id)
	if err != nil || out != "you> assistant> first line\nyou> you> assistant> second line\nyou> \n" {
		t.Fatalf("interactive chat = %q, %v", out, err)
	}
	msgs, err := client.New(base).Messages(t.Context(), id)
	if err != nil || len(msgs.Data) != 6 {
		t.Fatalf("messages = %+v, %v", msgs, err)
	}
	_, _, err = run("", "chat", "--conversation", "conv_nope", "hi")
	if err == nil || !strings.Contains(err.Error(), "conversation_not_found") {
		t.Fatalf("unknown conversation: %v", err)
	}
	_, _, err = run("", "chat", "--model", "nope", "hi")
	if err == nil || !strings.Contains(err.Error(), "model_not_found") {
		t.Fatalf("unknown model: %v", err)
	}
}
