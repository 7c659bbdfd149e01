package main

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// TestLiveEventsParticipantRemoved: a participant subscribes to a shared
// conversation (on the other instance where there are two); its removal
// ends the stream at once, and a reconnect gets 404 like an unknown id.
// Adding by email finds the real user; an unknown email is 404 not_found.
func TestLiveEventsParticipantRemoved(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newLiveEnv(t, be)
			e.a.createUser(e.tok, "own@example.com", adminPassword, "contributor")
			rdID := e.a.createUser(e.tok, "rd@example.com", adminPassword, "viewer")
			own := e.a.client(e.a.login("own@example.com", adminPassword))
			rdTok := e.a.login("rd@example.com", adminPassword)
			conv, err := own.CreateConversation(t.Context(), httpapi.ConversationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			path := "/api/conversations/" + conv.ID + "/participants"
			if r := e.a.do("POST", path, own.Token(), `{"email":"nobody@example.com","role":"reader"}`); r.status != 404 {
				t.Fatalf("unknown email: %d %v", r.status, r.body)
			}
			r := e.a.do("POST", path, own.Token(), `{"email":"RD@example.com","role":"reader"}`)
			if r.status != 201 || r.body["user_id"] != rdID || r.body["role"] != "reader" {
				t.Fatalf("add by email: %d %v", r.status, r.body)
			}
			rd := e.b.client(rdTok)
			never := func(client.StreamEvent) bool { return false }
			s := collect(t.Context(), rd, conv.ID, "", never)
			waitSubscribed(t, e.b, conv.ID, 1)
			if r := e.a.do("DELETE", path+"/"+rdID, own.Token(), nil); r.status != 204 {
				t.Fatalf("remove: %d %v", r.status, r.body)
			}
			select {
			case res := <-s:
				if !errors.Is(res.err, io.EOF) {
					t.Fatalf("after removal: %v, want the stream ended", res.err)
				}
				for _, ev := range res.events {
					if ev.Type != "participant.removed" {
						t.Fatalf("after removal got %s", ev.Type)
					}
				}
			case <-time.After(10 * time.Second):
				t.Fatal("stream still open 10s after the participant was removed")
			}
			for _, err := range rd.StreamConversation(t.Context(), conv.ID, "") {
				wantCode(t, err, 404, "conversation_not_found", "")
				break
			}
		})
	}
}
