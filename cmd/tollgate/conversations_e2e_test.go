package main

import (
	"context"
	"log/slog"
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
	a, err := newApp(ctx, testConfig(t), slog.New(slog.DiscardHandler), st)
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
