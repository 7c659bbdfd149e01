package conversation_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// payer is a Completer that records whom each completion is charged to.
type payer struct {
	*proxy.Proxy
	mu   sync.Mutex
	paid []string
}

func (p *payer) Complete(ctx context.Context, req proxy.CompleteRequest) (proxy.Result, error) {
	p.mu.Lock()
	p.paid = append(p.paid, req.Principal.UserID)
	p.mu.Unlock()
	return p.Proxy.Complete(ctx, req)
}

// TestReplyChargedToPoster: a writer's post is completed (and its usage
// recorded and rate-limited) as the writer, not as the owner; a reader's
// post is 403 insufficient_role and reaches no model.
func TestReplyChargedToPoster(t *testing.T) {
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: echo.Model, Provider: echo.New(echo.Model, nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	pay := &payer{Proxy: px}
	pub := &recorder{}
	svc := conversation.New(conversation.Options{Store: sqltest.SQLite(t), Completer: pay, Publisher: pub})
	ctx := context.Background()
	wendy := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "wendy", Role: gateway.RoleContributor}
	rita := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "rita", Role: gateway.RoleContributor}
	c, err := svc.Create(ctx, alice.Owner(), gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		id   string
		role gateway.ParticipantRole
	}{{"wendy", gateway.ParticipantWriter}, {"rita", gateway.ParticipantReader}} {
		if _, err := svc.AddParticipant(ctx, alice.Owner(), c.ID, conversation.ParticipantInput{UserID: p.id, Role: p.role}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Post(ctx, wendy, conversation.PostInput{ConversationID: c.ID, Content: "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Post(ctx, rita, conversation.PostInput{ConversationID: c.ID, Content: "hi"}, nil)
	if e, ok := gateway.AsError(err); !ok || e.Kind != gateway.KindPermission || e.Code != "insufficient_role" {
		t.Fatalf("reader posts: %v, want 403 insufficient_role", err)
	}
	if _, err := svc.Post(ctx, alice, conversation.PostInput{ConversationID: c.ID, Content: "hi"}, nil); err != nil {
		t.Fatal(err)
	}
	if len(pay.paid) != 2 || pay.paid[0] != "wendy" || pay.paid[1] != "alice" {
		t.Fatalf("charged to %v, want [wendy alice]", pay.paid)
	}
	// participant.added twice, then the posts' events; removal emits
	// participant.removed.
	if err := svc.RemoveParticipant(ctx, rita.Owner(), c.ID, "rita"); err != nil {
		t.Fatal(err)
	}
	types := pub.types()
	if types[0] != conversation.ParticipantAdded || types[1] != conversation.ParticipantAdded || types[len(types)-1] != conversation.ParticipantRemoved {
		t.Fatalf("events = %v", types)
	}
}
