package conversation_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// chanSignals is a Signaller whose Signal calls are recorded and whose
// incoming signals the test writes.
type chanSignals struct {
	in   chan []byte
	mu   sync.Mutex
	sent [][]byte
}

func (c *chanSignals) Signal(_ context.Context, data []byte) {
	c.mu.Lock()
	c.sent = append(c.sent, data)
	c.mu.Unlock()
}
func (c *chanSignals) Signals() <-chan []byte { return c.in }

// TestSignalsOrder: an instance applies other instances' signals to its
// view: a heartbeat makes the user online there (one presence.update per
// shared conversation), a typing stop wins over a typing start that was
// taken earlier but arrives later, signals already timed out change
// nothing, and malformed ones are ignored. Its own calls are signalled.
func TestSignalsOrder(t *testing.T) {
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: echo.Model, Provider: echo.New(echo.Model, nil)}}})
	if err != nil {
		t.Fatal(err)
	}
	st := sqltest.SQLite(t)
	ctx := t.Context()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	sig := &chanSignals{in: make(chan []byte)}
	pub := &recorder{}
	svc := conversation.New(conversation.Options{Store: st, Completer: px, Publisher: pub, Signals: sig,
		Now: func() time.Time { return now }})
	go svc.RunSignals(ctx)
	owner := gateway.Owner{UserID: "olga"}
	c, err := st.CreateConversation(ctx, owner, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddParticipant(ctx, owner, c.ID, "wes", gateway.ParticipantWriter); err != nil {
		t.Fatal(err)
	}
	send := func(format string, args ...any) {
		sig.in <- fmt.Appendf(nil, format, args...)
		sig.in <- []byte(`{"k":"beat","u":""}`) // a malformed one, and a barrier: the previous one was applied
	}
	at := func(d time.Duration) int64 { return now.Add(d).UnixNano() }

	send(`{"k":"beat","u":"wes","at":%d}`, at(-61*time.Second)) // timed out already
	if _, online := svc.LastHeartbeat("wes"); online {
		t.Fatal("a heartbeat older than 60 s made wes online")
	}
	send(`{"k":"beat","u":"wes","at":%d}`, at(-time.Second))
	send(`{"k":"beat","u":"wes","at":%d}`, at(-2*time.Second)) // older: kept the newer
	if got, online := svc.LastHeartbeat("wes"); !online || !got.Equal(now.Add(-time.Second)) {
		t.Fatalf("heartbeat = %v %v", got, online)
	}
	send(`{"k":"typing","u":"wes","c":"%s","on":true,"at":%d}`, c.ID, at(-3*time.Second))
	send(`{"k":"typing","u":"wes","c":"%s","at":%d}`, c.ID, at(-time.Second))
	send(`{"k":"typing","u":"wes","c":"%s","on":true,"at":%d}`, c.ID, at(-2*time.Second)) // taken before the stop
	if _, typing := svc.TypingSince(c.ID, gateway.Owner{UserID: "wes"}); typing {
		t.Fatal("a start taken before the stop restarted the typing")
	}
	send(`{"k":"typing","u":"wes","c":"%s","on":true,"at":%d}`, c.ID, at(-7*time.Second)) // timed out
	if _, typing := svc.TypingSince(c.ID, gateway.Owner{UserID: "wes"}); typing {
		t.Fatal("a timed-out start made wes typing")
	}

	var got []string
	pub.mu.Lock()
	for _, ev := range pub.events {
		switch {
		case ev.Presence != nil:
			got = append(got, fmt.Sprintf("%s %s %v", ev.Type, ev.Presence.UserID, ev.Presence.Online))
		case ev.Typing != nil:
			got = append(got, fmt.Sprintf("%s %s %v", ev.Type, ev.Typing.UserID, ev.Typing.Typing))
		}
	}
	pub.mu.Unlock()
	want := []string{"presence.update wes true", "typing.update wes true", "typing.update wes false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %v, want %v", got, want)
	}

	// This instance's own calls are signalled to the others.
	if err := svc.Heartbeat(ctx, &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "olga", Role: gateway.RoleContributor}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetTyping(ctx, owner, c.ID, true); err != nil {
		t.Fatal(err)
	}
	sig.mu.Lock()
	defer sig.mu.Unlock()
	wantSent := []string{
		fmt.Sprintf(`{"k":"beat","u":"olga","at":%d}`, at(0)),
		fmt.Sprintf(`{"k":"typing","u":"olga","c":"%s","on":true,"at":%d}`, c.ID, at(0)),
	}
	if len(sig.sent) != 2 || string(sig.sent[0]) != wantSent[0] || string(sig.sent[1]) != wantSent[1] {
		t.Fatalf("sent %q, want %q", sig.sent, wantSent)
	}
}
