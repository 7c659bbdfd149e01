package main

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
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
			removed := func(ev client.StreamEvent) bool { return ev.Type == "participant.removed" }
			so := collect(t.Context(), e.b.client(own.Token()), conv.ID, "", removed)
			waitSubscribed(t, e.b, conv.ID, 2)
			if r := e.a.do("DELETE", path+"/"+rdID, own.Token(), nil); r.status != 204 {
				t.Fatalf("remove: %d %v", r.status, r.body)
			}
			// The owner's stream sees the removal with the role it ended.
			res := <-so
			if res.err != nil || len(res.events) != 1 {
				t.Fatalf("owner's stream: %v %+v", res.err, res.events)
			}
			var rm map[string]any
			if err := json.Unmarshal(res.events[0].Data, &rm); err != nil {
				t.Fatal(err)
			}
			if rm["conversation_id"] != conv.ID || rm["user_id"] != rdID || rm["role"] != "reader" || rm["created_at"] == nil || len(rm) != 4 {
				t.Fatalf("participant.removed = %s, want the reader's row", res.events[0].Data)
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

// TestUnreadAcrossInstances: unread_count follows posts by others and
// `read`; unread.update reaches only the reader it concerns (its own
// stream on the other instance), never a co-participant's stream, also on
// replay.
func TestUnreadAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newLiveEnv(t, be)
			ownID := e.a.createUser(e.tok, "own2@example.com", adminPassword, "contributor")
			wrID := e.a.createUser(e.tok, "wr@example.com", adminPassword, "contributor")
			own := e.a.client(e.a.login("own2@example.com", adminPassword))
			wr := e.a.client(e.a.login("wr@example.com", adminPassword))
			conv, err := own.CreateConversation(t.Context(), httpapi.ConversationRequest{Title: ptr("t")})
			if err != nil {
				t.Fatal(err)
			}
			if r := e.a.do("POST", "/api/conversations/"+conv.ID+"/participants", own.Token(), `{"user_id":"`+wrID+`","role":"writer"}`); r.status != 201 {
				t.Fatalf("add: %d %v", r.status, r.body)
			}
			unread := func(tok string) float64 {
				t.Helper()
				r := e.b.do("GET", "/api/conversations/"+conv.ID, tok, nil)
				n, ok := r.body["unread_count"].(float64)
				if r.status != 200 || !ok {
					t.Fatalf("get: %d %v", r.status, r.body)
				}
				return n
			}
			r := e.a.do("POST", "/api/conversations/"+conv.ID+"/messages", wr.Token(), `{"content":"hello"}`)
			if r.status != 201 {
				t.Fatalf("post: %d %v", r.status, r.body)
			}
			reply := r.body["assistant_message"].(map[string]any)["id"].(string)
			if got := unread(own.Token()); got != 2 {
				t.Fatalf("owner unread after the writer's post = %v, want 2", got)
			}
			if got := unread(wr.Token()); got != 0 {
				t.Fatalf("writer unread after its own post = %v, want 0", got)
			}

			isType := func(typ string) func(client.StreamEvent) bool {
				return func(ev client.StreamEvent) bool { return ev.Type == typ }
			}
			mine := collect(t.Context(), e.b.client(own.Token()), conv.ID, "", isType("unread.update"))
			theirs := collect(t.Context(), e.b.client(wr.Token()), conv.ID, "", isType("conversation.updated"))
			waitSubscribed(t, e.b, conv.ID, 2)
			r = e.a.do("POST", "/api/conversations/"+conv.ID+"/read", own.Token(), `{"message_id":"`+reply+`"}`)
			if r.status != 200 || r.body["unread_count"] != 0.0 || r.body["last_read_message_id"] != reply || r.body["end_user_id"] != nil {
				t.Fatalf("read: %d %v", r.status, r.body)
			}
			if got := unread(own.Token()); got != 0 {
				t.Fatalf("owner unread after read = %v, want 0", got)
			}
			// A later event every participant sees ends the writer's wait.
			if r := e.a.do("PATCH", "/api/conversations/"+conv.ID, own.Token(), `{"title":"renamed"}`); r.status != 200 {
				t.Fatalf("rename: %d %v", r.status, r.body)
			}
			res := <-mine
			if res.err != nil || len(res.events) != 1 || res.events[0].Type != "unread.update" {
				t.Fatalf("owner's stream: %+v, %v", res.events, res.err)
			}
			res = <-theirs
			if res.err != nil {
				t.Fatal(res.err)
			}
			for _, ev := range res.events {
				if ev.Type == "unread.update" {
					t.Fatalf("the writer got the owner's unread.update: %s", ev.Data)
				}
				if ev.Type == "conversation.updated" && (strings.Contains(string(ev.Data), "unread_count") || strings.Contains(string(ev.Data), `"role"`)) {
					t.Fatalf("conversation.updated carries the owner's reader state: %s", ev.Data)
				}
			}
			// On replay, too.
			res = <-collect(t.Context(), wr, conv.ID, "0", isType("conversation.updated"))
			for _, ev := range res.events {
				if ev.Type == "unread.update" {
					t.Fatalf("replay showed the writer the owner's unread.update")
				}
			}

			// When the writer posts, the owner's stream counts up: the
			// message, then the finished reply; the writer hears nothing
			// about its own post.
			ownUnread := func(ev client.StreamEvent) bool {
				return ev.Type == "unread.update" && strings.Contains(string(ev.Data), `"unread_count":2`)
			}
			mine = collect(t.Context(), e.b.client(own.Token()), conv.ID, "", ownUnread)
			theirs = collect(t.Context(), e.b.client(wr.Token()), conv.ID, "", isType("conversation.updated"))
			waitSubscribed(t, e.b, conv.ID, 2)
			if r := e.a.do("POST", "/api/conversations/"+conv.ID+"/messages", wr.Token(), `{"content":"again"}`); r.status != 201 {
				t.Fatalf("post: %d %v", r.status, r.body)
			}
			if r := e.a.do("PATCH", "/api/conversations/"+conv.ID, own.Token(), `{"title":"again"}`); r.status != 200 {
				t.Fatalf("rename: %d %v", r.status, r.body)
			}
			res = <-mine
			if res.err != nil {
				t.Fatal(res.err)
			}
			var counts []string
			for _, ev := range res.events {
				if ev.Type == "unread.update" {
					counts = append(counts, string(ev.Data))
				}
			}
			want := []string{
				`{"conversation_id":"` + conv.ID + `","user_id":"` + ownID + `","end_user_id":null,"last_read_message_id":"` + reply + `","unread_count":1}`,
				`{"conversation_id":"` + conv.ID + `","user_id":"` + ownID + `","end_user_id":null,"last_read_message_id":"` + reply + `","unread_count":2}`,
			}
			if strings.Join(counts, "\n") != strings.Join(want, "\n") {
				t.Fatalf("owner's unread.update after the writer's post:\n%s\nwant:\n%s", strings.Join(counts, "\n"), strings.Join(want, "\n"))
			}
			res = <-theirs
			for _, ev := range res.events {
				if ev.Type == "unread.update" {
					t.Fatalf("the writer got an unread.update for its own post: %s", ev.Data)
				}
			}
		})
	}
}

// TestTypingAndPresenceExpire: typing set on one instance reaches a
// subscriber on the other and ends by itself 6 s after the last call;
// presence is online from a heartbeat and away 60 s after the last one.
// The clock is injected; sweeps are called, nothing waits on time.
func TestTypingAndPresenceExpire(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			clock := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
			deps := testDeps(nil)
			deps.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
			a := newAuthEnvDeps(t, deps, be.environ(t)...)
			tok := a.setup()
			b := a
			if be.shared {
				b = a.second()
			}
			a.createUser(tok, "own3@example.com", adminPassword, "contributor")
			wrID := a.createUser(tok, "wr3@example.com", adminPassword, "contributor")
			rdID := a.createUser(tok, "rd3@example.com", adminPassword, "contributor")
			own, wr, rd := a.login("own3@example.com", adminPassword), a.login("wr3@example.com", adminPassword), a.login("rd3@example.com", adminPassword)
			r := a.do("POST", "/api/conversations", own, `{}`)
			conv := r.body["id"].(string)
			for _, p := range [][2]string{{wrID, "writer"}, {rdID, "reader"}} {
				if r := a.do("POST", "/api/conversations/"+conv+"/participants", own, `{"user_id":"`+p[0]+`","role":"`+p[1]+`"}`); r.status != 201 {
					t.Fatalf("add: %d %v", r.status, r.body)
				}
			}
			if r := a.do("POST", "/api/conversations/"+conv+"/typing", rd, `{"typing":true}`); r.status != 403 {
				t.Fatalf("reader typing: %d %v", r.status, r.body)
			}
			if r := a.do("POST", "/api/conversations/conv_unknown/typing", wr, `{"typing":true}`); r.status != 404 {
				t.Fatalf("unknown conversation: %d %v", r.status, r.body)
			}

			away := func(ev client.StreamEvent) bool {
				return ev.Type == "presence.update" && strings.Contains(string(ev.Data), `"away"`)
			}
			s := collect(t.Context(), b.client(own), conv, "", away)
			waitSubscribed(t, b, conv, 1)
			typing := func(on bool) {
				t.Helper()
				if r := a.do("POST", "/api/conversations/"+conv+"/typing", wr, map[string]bool{"typing": on}); r.status != 204 {
					t.Fatalf("typing: %d %v", r.status, r.body)
				}
				waitTyping(t, b, conv, wrID, deps.now(), on)
			}
			beat := func() {
				t.Helper()
				if r := a.do("POST", "/api/presence/heartbeat", wr, nil); r.status != 204 {
					t.Fatalf("heartbeat: %d %v", r.status, r.body)
				}
				waitBeat(t, b, wrID, deps.now())
			}
			sweep := func() { a.app.conversations.Sweep(t.Context()); b.app.conversations.Sweep(t.Context()) }

			typing(true)
			advance(5 * time.Second)
			sweep() // 5 s: still typing
			typing(true)
			advance(5 * time.Second)
			sweep() // 5 s after the last call: still typing
			advance(time.Second)
			sweep() // 6 s: ends by itself
			beat()
			advance(59 * time.Second)
			sweep() // 59 s: still online
			beat()
			advance(59 * time.Second)
			sweep()
			advance(time.Second)
			sweep() // 60 s after the last beat: away

			res := <-s
			if res.err != nil {
				t.Fatal(res.err)
			}
			var got []string
			for _, ev := range res.events {
				got = append(got, ev.Type+" "+string(ev.Data))
			}
			want := []string{
				`typing.update {"user_id":"` + wrID + `","typing":true}`,
				`typing.update {"user_id":"` + wrID + `","typing":false}`,
				`presence.update {"user_id":"` + wrID + `","status":"online"}`,
				`presence.update {"user_id":"` + wrID + `","status":"away"}`,
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// waitBeat waits until e's view of presence has the user's heartbeat at
// at (signals cross instances asynchronously).
func waitBeat(t *testing.T, e *authEnv, userID string, at time.Time) {
	t.Helper()
	waitView(t, func() bool {
		got, ok := e.app.conversations.LastHeartbeat(userID)
		return ok && got.Equal(at)
	})
}

// waitTyping waits until e's view has the user typing (or not) since at.
func waitTyping(t *testing.T, e *authEnv, conv, userID string, at time.Time, on bool) {
	t.Helper()
	waitView(t, func() bool {
		got, typing := e.app.conversations.TypingSince(conv, gateway.Owner{UserID: userID})
		return typing == on && (!on || got.Equal(at))
	})
}

func waitView(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("the other instance did not get the signal within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPresenceAcrossInstances: heartbeats and typing calls land on
// alternating instances and every instance's subscribers see one
// consistent story: online once, never away while another instance got a
// beat, typing ended by an instance that did not take the call (the one
// that did stops sweeping, as if it died), then away 60 s after the
// latest beat, wherever it landed.
func TestPresenceAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		if !be.shared {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			clock := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
			deps := testDeps(nil)
			deps.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
			a := newAuthEnvDeps(t, deps, be.environ(t)...)
			tok := a.setup()
			b := a.second()
			a.createUser(tok, "own4@example.com", adminPassword, "contributor")
			wrID := a.createUser(tok, "wr4@example.com", adminPassword, "contributor")
			rdID := a.createUser(tok, "rd4@example.com", adminPassword, "contributor")
			own, wr, rd := a.login("own4@example.com", adminPassword), a.login("wr4@example.com", adminPassword), a.login("rd4@example.com", adminPassword)
			conv := a.do("POST", "/api/conversations", own, `{}`).body["id"].(string)
			for _, p := range [][2]string{{wrID, "writer"}, {rdID, "reader"}} {
				if r := a.do("POST", "/api/conversations/"+conv+"/participants", own, `{"user_id":"`+p[0]+`","role":"`+p[1]+`"}`); r.status != 201 {
					t.Fatalf("add: %d %v", r.status, r.body)
				}
			}
			away := func(ev client.StreamEvent) bool {
				return ev.Type == "presence.update" && strings.Contains(string(ev.Data), `"away"`)
			}
			onA := collect(t.Context(), a.client(own), conv, "", away)
			onB := collect(t.Context(), b.client(rd), conv, "", away)
			waitSubscribed(t, a, conv, 1)
			waitSubscribed(t, b, conv, 1)
			beat := func(at *authEnv) {
				t.Helper()
				if r := at.do("POST", "/api/presence/heartbeat", wr, nil); r.status != 204 {
					t.Fatalf("heartbeat: %d %v", r.status, r.body)
				}
				waitBeat(t, a, wrID, deps.now())
				waitBeat(t, b, wrID, deps.now())
			}
			sweep := func(envs ...*authEnv) {
				for _, e := range envs {
					e.app.conversations.Sweep(t.Context())
				}
			}

			beat(a)
			advance(40 * time.Second)
			beat(b)
			advance(30 * time.Second)
			sweep(a, b) // 70 s after the beat on a, 30 s after the one on b: online
			if r := a.do("POST", "/api/conversations/"+conv+"/typing", wr, `{"typing":true}`); r.status != 204 {
				t.Fatalf("typing: %d %v", r.status, r.body)
			}
			waitTyping(t, b, conv, wrID, deps.now(), true)
			advance(6 * time.Second)
			sweep(b) // a took the call and does not sweep: b ends the typing
			if _, typing := b.app.conversations.TypingSince(conv, gateway.Owner{UserID: wrID}); typing {
				t.Fatal("b still has the writer typing after 6 s")
			}
			advance(24 * time.Second)
			sweep(a, b) // 60 s after the latest beat (on b): away everywhere

			want := []string{
				`presence.update {"user_id":"` + wrID + `","status":"online"}`,
				`typing.update {"user_id":"` + wrID + `","typing":true}`,
				`typing.update {"user_id":"` + wrID + `","typing":false}`,
				`presence.update {"user_id":"` + wrID + `","status":"away"}`,
			}
			for name, s := range map[string]<-chan streamResult{"a": onA, "b": onB} {
				res := <-s
				if res.err != nil {
					t.Fatal(res.err)
				}
				var got []string
				for _, ev := range res.events {
					got = append(got, ev.Type+" "+string(ev.Data))
					if ev.ID != "" {
						t.Errorf("%s: %s has id %q; presence and typing are not persisted", name, ev.Type, ev.ID)
					}
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("events on %s:\n%s\nwant:\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

// TestMessageAuthors: in a shared conversation every user message names
// its author (user id and display name) — in the post's answer, the
// message list, an edit and the live events — and assistant messages
// name none.
func TestMessageAuthors(t *testing.T) {
	t.Parallel()
	e := newLiveEnv(t, liveBackends[0])
	admin := e.a.client(e.tok)
	mk := func(email, name string) string {
		u, err := admin.CreateUser(t.Context(), httpapi.CreateUserRequest{Email: email, Password: gateway.Secret(adminPassword), Role: "contributor", DisplayName: name})
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	ownID, wrID := mk("olga@example.com", "Olga O."), mk("wes@example.com", "Wes W.")
	own, wr := e.a.login("olga@example.com", adminPassword), e.a.login("wes@example.com", adminPassword)
	conv := e.a.do("POST", "/api/conversations", own, `{}`).body["id"].(string)
	if r := e.a.do("POST", "/api/conversations/"+conv+"/participants", own, `{"user_id":"`+wrID+`","role":"writer"}`); r.status != 201 {
		t.Fatalf("add: %d %v", r.status, r.body)
	}
	created := func(ev client.StreamEvent) bool { return ev.Type == "message.updated" }
	s := collect(t.Context(), e.a.client(own), conv, "", created)
	waitSubscribed(t, e.a, conv, 1)
	author := func(m any) string {
		a := m.(map[string]any)["author"]
		if a == nil {
			return "null"
		}
		b, _ := json.Marshal(a)
		return string(b)
	}
	wes := `{"display_name":"Wes W.","user_id":"` + wrID + `"}`
	olga := `{"display_name":"Olga O.","user_id":"` + ownID + `"}`
	r := e.a.do("POST", "/api/conversations/"+conv+"/messages", wr, `{"content":"from wes"}`)
	if r.status != 201 || author(r.body["user_message"]) != wes || author(r.body["assistant_message"]) != "null" {
		t.Fatalf("writer's post: %d %v", r.status, r.body)
	}
	wesMsg := r.body["user_message"].(map[string]any)["id"].(string)
	if r := e.a.do("POST", "/api/conversations/"+conv+"/messages", own, `{"content":"from olga"}`); r.status != 201 || author(r.body["user_message"]) != olga {
		t.Fatalf("owner's post: %d %v", r.status, r.body)
	}
	list := e.a.do("GET", "/api/conversations/"+conv+"/messages", own, nil)
	var got []string
	for _, m := range list.body["data"].([]any) {
		got = append(got, author(m))
	}
	if want := []string{wes, "null", olga, "null"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("listed authors = %v, want %v", got, want)
	}
	if r := e.a.do("PATCH", "/api/messages/"+wesMsg, wr, `{"content":"edited"}`); r.status != 200 || author(r.body) != wes {
		t.Fatalf("edit: %d %v", r.status, r.body)
	}
	res := <-s
	if res.err != nil {
		t.Fatal(res.err)
	}
	var live []string
	for _, ev := range res.events {
		if ev.Type == "message.created" || ev.Type == "message.updated" {
			var m map[string]any
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatal(err)
			}
			live = append(live, ev.Type+" "+author(m))
		}
	}
	want := []string{"message.created " + wes, "message.created null", "message.created " + olga, "message.created null", "message.updated " + wes}
	if strings.Join(live, "\n") != strings.Join(want, "\n") {
		t.Fatalf("live authors:\n%s\nwant:\n%s", strings.Join(live, "\n"), strings.Join(want, "\n"))
	}
}
