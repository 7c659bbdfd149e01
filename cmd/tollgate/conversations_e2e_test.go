package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

func TestConversationsWired(t *testing.T) {
	base := newTestApp(t)
	c := call(t, "POST", base+"/api/conversations", `{"title":"wired"}`)
	if c.status != 201 {
		t.Fatalf("create = %d %v", c.status, c.body)
	}
	id, _ := c.body["id"].(string)
	r := call(t, "POST", base+"/api/conversations/"+id+"/messages", `{"content":"one two three"}`)
	if r.status != 201 {
		t.Fatalf("post = %d %v", r.status, r.body)
	}
	a, _ := r.body["assistant_message"].(map[string]any)
	if a["content"] != "one two three" || a["status"] != "complete" || a["model"] != "echo" {
		t.Fatalf("assistant = %v", a)
	}
}

func TestStartupSweepMarksPendingMessages(t *testing.T) {
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
	if err != nil || out != "first line\nsecond line\n" {
		t.Fatalf("interactive chat = %q, %v", out, err)
	}
	msgs := call(t, "GET", base+"/api/conversations/"+id+"/messages", "")
	if data, _ := msgs.body["data"].([]any); len(data) != 6 {
		t.Fatalf("messages = %v", msgs.body)
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
