package conversation_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// recorder is a Publisher (and an Observer) that keeps what it got.
type recorder struct {
	mu     sync.Mutex
	events []conversation.Event
}

func (r *recorder) Publish(_ context.Context, ev conversation.Event) int64 {
	r.observe(ev)
	return 0
}

func (r *recorder) observe(ev conversation.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) types() []conversation.EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []conversation.EventType
	for _, ev := range r.events {
		if len(out) == 0 || ev.Type != conversation.MessageDelta || out[len(out)-1] != conversation.MessageDelta {
			out = append(out, ev.Type)
		}
	}
	return out
}

func (r *recorder) deltaText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, ev := range r.events {
		if ev.Type == conversation.MessageDelta {
			b.WriteString(ev.Delta)
		}
	}
	return b.String()
}

func newService(t *testing.T, pub conversation.Publisher) *conversation.Service {
	t.Helper()
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: echo.Model, Provider: echo.New(echo.Model, nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	return conversation.New(conversation.Options{Store: sqltest.SQLite(t), Completer: px, Publisher: pub})
}

var alice = &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "alice", Role: gateway.RoleContributor}

// TestPostEmitsEvents: a post emits message.created for both messages,
// the deltas of the reply (which reassemble to the stored text) and
// message.done with the stored message, to the Publisher and to the
// post's Observer alike.
func TestPostEmitsEvents(t *testing.T) {
	pub := &recorder{}
	svc := newService(t, pub)
	ctx := context.Background()
	c, err := svc.Create(ctx, alice.Owner(), gateway.Conversation{Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	obs := &recorder{}
	posted, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "hello brave new world"}, obs.observe)
	if err != nil {
		t.Fatal(err)
	}
	want := []conversation.EventType{conversation.MessageCreated, conversation.MessageCreated, conversation.MessageDelta, conversation.MessageDone}
	for name, r := range map[string]*recorder{"publisher": pub, "observer": obs} {
		if got := r.types(); !slices.Equal(got, want) {
			t.Fatalf("%s got %v, want %v", name, got, want)
		}
		if got := r.deltaText(); got != posted.Assistant.Content || got != "hello brave new world" {
			t.Fatalf("%s deltas = %q, stored %q", name, got, posted.Assistant.Content)
		}
		last := r.events[len(r.events)-1]
		if last.Message == nil || last.Message.ID != posted.Assistant.ID || last.Message.Status != gateway.MessageComplete {
			t.Fatalf("%s message.done = %+v, want the stored complete assistant message", name, last.Message)
		}
		if r.events[0].Message.ID != posted.User.ID || r.events[0].ConversationID != c.ID {
			t.Fatalf("%s first event = %+v, want the user message of %s", name, r.events[0], c.ID)
		}
	}
}

// TestChangesEmitEvents: edits, deletes, restores and conversation updates
// each emit their event with the changed object.
func TestChangesEmitEvents(t *testing.T) {
	pub := &recorder{}
	svc := newService(t, pub)
	ctx := context.Background()
	o := alice.Owner()
	c, _ := svc.Create(ctx, o, gateway.Conversation{})
	posted, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "hi"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.events = nil
	title := "renamed"
	if _, err := svc.Update(ctx, o, c.ID, gateway.ConversationPatch{Title: &title}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EditMessage(ctx, o, posted.User.ID, "edited"); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteMessage(ctx, o, posted.User.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RestoreMessage(ctx, o, posted.User.ID); err != nil {
		t.Fatal(err)
	}
	want := []conversation.EventType{conversation.ConversationUpdated, conversation.MessageUpdated, conversation.MessageDeleted, conversation.MessageRestored}
	if got := pub.types(); !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if ev := pub.events[0]; ev.Conversation == nil || ev.Conversation.Title != "renamed" || ev.ConversationID != c.ID {
		t.Fatalf("conversation.updated = %+v", ev)
	}
	if ev := pub.events[1]; ev.Message.Content != "edited" || ev.Message.EditedAt == nil {
		t.Fatalf("message.updated = %+v", ev.Message)
	}
	if ev := pub.events[2]; ev.Message.DeletedAt == nil || ev.Message.Content != "" || ev.ConversationID != c.ID {
		t.Fatalf("message.deleted = %+v", ev.Message)
	}
	if ev := pub.events[3]; ev.Message.DeletedAt != nil || ev.Message.Content != "edited" {
		t.Fatalf("message.restored = %+v", ev.Message)
	}
}

// TestRefusalsEmitNothing: a post or change that is refused stores and
// emits nothing, with the error the API renders.
func TestRefusalsEmitNothing(t *testing.T) {
	pub := &recorder{}
	svc := newService(t, pub)
	ctx := context.Background()
	bob := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "bob", Role: gateway.RoleContributor}
	c, _ := svc.Create(ctx, alice.Owner(), gateway.Conversation{})
	for name, tc := range map[string]struct {
		err       error
		code, prm string
	}{
		"OtherOwner": {err: func() error {
			_, err := svc.Post(ctx, bob, conversation.PostInput{ConversationID: c.ID, Content: "x"}, nil)
			return err
		}(), code: "conversation_not_found"},
		"UnknownModel": {err: func() error {
			_, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "x", Model: "nope"}, nil)
			return err
		}(), code: "model_not_found", prm: "body.model"},
		"BadParent": {err: func() error {
			_, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "x", ParentID: "msg_nope"}, nil)
			return err
		}(), code: "message_not_found", prm: "body.parent_id"},
		"EditOthers": {err: func() error { _, err := svc.EditMessage(ctx, bob.Owner(), "msg_x", "y"); return err }(), code: "message_not_found"},
	} {
		var ge *gateway.Error
		if !errors.As(tc.err, &ge) || ge.Code != tc.code || ge.Param != tc.prm {
			t.Fatalf("%s: err = %v, want %s (param %q)", name, tc.err, tc.code, tc.prm)
		}
	}
	if len(pub.events) != 0 {
		t.Fatalf("refusals emitted %v", pub.types())
	}
}
