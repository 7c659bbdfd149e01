package conversation_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// blockingCheckpoints is a store whose checkpoint writes hang until the
// test ends, as on a frozen database.
type blockingCheckpoints struct {
	gateway.ConversationStore
	calls chan struct{}
	stop  chan struct{}
}

func (b *blockingCheckpoints) CheckpointMessage(ctx context.Context, o gateway.Owner, id, content string) error {
	select {
	case b.calls <- struct{}{}:
	default:
	}
	select {
	case <-b.stop:
	case <-ctx.Done():
	}
	return ctx.Err()
}

// slowService is a service whose model streams one word per receive from
// step, checkpointing every 10 ms.
func slowService(t *testing.T, st gateway.ConversationStore, step chan struct{}, words []string) *conversation.Service {
	t.Helper()
	up := llmtest.NewT(t, llmtest.Reply{Words: words, Step: step})
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: "slow",
		Provider: openai.New(openai.Options{Name: "up", BaseURL: up.URL, Timeout: time.Minute})}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	return conversation.New(conversation.Options{Store: st, Completer: px, Instance: "inst-a", CheckpointInterval: 10 * time.Millisecond})
}

// TestCheckpointsDuringStream: while a reply streams, its pending message
// holds the text streamed so far (checkpointed by the service, not by the
// request), and the final write stores it all as complete.
func TestCheckpointsDuringStream(t *testing.T) {
	t.Parallel()
	st := sqltest.SQLite(t)
	step := make(chan struct{})
	words := []string{"one", " two", " three", " four"}
	svc := slowService(t, st, step, words)
	ctx := context.Background()
	o := alice.Owner()
	c, _ := svc.Create(ctx, o, gateway.Conversation{Model: "slow"})
	created := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "count"}, func(ev conversation.Event) {
			if ev.Type == conversation.MessageCreated && ev.Message.Role == "assistant" {
				created <- ev.Message.ID
			}
		})
		done <- err
	}()
	id := <-created
	stored := func() gateway.Message {
		msgs, err := st.ListMessages(ctx, o, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.ID == id {
				return m
			}
		}
		t.Fatalf("message %s not stored", id)
		return gateway.Message{}
	}
	// The role chunk comes first; each send on step releases one word.
	for i := 1; i <= len(words); i++ {
		step <- struct{}{}
		want := strings.Join(words[:i], "")
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			m := stored()
			if m.Content == want && m.Status == gateway.MessagePending {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %d words: stored %q (%s), want %q pending", i, m.Content, m.Status, want)
			}
		}
	}
	close(step)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := stored(); m.Status != gateway.MessageComplete || m.Content != "one two three four" {
		t.Fatalf("final = %q (%s)", m.Content, m.Status)
	}
}

// TestCheckpointsOffTheStreamPath: a checkpoint write that hangs (a frozen
// database) does not hold the stream: every delta reaches the observer
// and the final write stores the reply.
func TestCheckpointsOffTheStreamPath(t *testing.T) {
	t.Parallel()
	st := &blockingCheckpoints{ConversationStore: sqltest.SQLite(t), calls: make(chan struct{}, 1), stop: make(chan struct{})}
	t.Cleanup(func() { close(st.stop) })
	step := make(chan struct{})
	words := []string{"a", " b", " c"}
	svc := slowService(t, st, step, words)
	ctx := context.Background()
	c, _ := svc.Create(ctx, alice.Owner(), gateway.Conversation{Model: "slow"})
	deltas := make(chan string, 16)
	done := make(chan conversation.Posted, 1)
	go func() {
		p, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "x"}, func(ev conversation.Event) {
			if ev.Type == conversation.MessageDelta {
				deltas <- ev.Delta
			}
		})
		if err != nil {
			t.Error(err)
		}
		done <- p
	}()
	step <- struct{}{}
	if d := <-deltas; d != "a" {
		t.Fatalf("first delta = %q", d)
	}
	<-st.calls // a checkpoint write is now hanging
	for _, w := range words[1:] {
		step <- struct{}{}
		if d := <-deltas; d != w {
			t.Fatalf("delta = %q, want %q", d, w)
		}
	}
	close(step)
	if p := <-done; p.Assistant.Status != gateway.MessageComplete || p.Assistant.Content != "a b c" {
		t.Fatalf("stored = %+v", p.Assistant)
	}
}
