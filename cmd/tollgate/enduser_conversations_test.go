package main

import (
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// TestAppCredentialConversationIsolation runs the conversation routes with a
// real app credential (API key in end_user_mode) for two end users: each
// sees only its own data, and the other's ids answer exactly like unknown
// ids. The key's owner, using their own login, sees none of it either.
func TestAppCredentialConversationIsolation(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	appKey := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "app", EndUserMode: true}).Key
	const h = "X-End-User-Id"
	as := func(user string) []string { return []string{h, user} }

	c := e.do("POST", "/api/conversations", appKey, map[string]any{"title": "alice's"}, as("alice")...)
	wantStatus(t, c, http.StatusCreated)
	convID := c.body["id"].(string)
	post := e.do("POST", "/api/conversations/"+convID+"/messages", appKey, map[string]any{"content": "secret plans here"}, as("alice")...)
	wantStatus(t, post, http.StatusCreated)
	msgID := post.body["user_message"].(map[string]any)["id"].(string)
	// An end user's message names no author: the stored one is the key's
	// owner, not the end user.
	if a, ok := post.body["user_message"].(map[string]any)["author"]; !ok || a != nil {
		t.Fatalf("end user's message author = %v (present %v), want null", a, ok)
	}
	msgs := e.do("GET", "/api/conversations/"+convID+"/messages", appKey, nil, as("alice")...)
	wantStatus(t, msgs, 200)
	for _, m := range msgs.body["data"].([]any) {
		if a := m.(map[string]any)["author"]; a != nil {
			t.Fatalf("end user's listed message author = %v, want null", a)
		}
	}

	unknownConv := e.do("GET", "/api/conversations/conv_doesnotexist", appKey, nil, as("bob")...)
	wantError(t, unknownConv, 404, "conversation_not_found", "")
	unknownMsg := e.do("PATCH", "/api/messages/msg_doesnotexist", appKey, map[string]any{"content": "x"}, as("bob")...)
	wantError(t, unknownMsg, 404, "message_not_found", "")

	for _, tc := range []struct {
		method, path string
		body         any
		same         reply
	}{
		{"GET", "/api/conversations/" + convID, nil, unknownConv},
		{"GET", "/api/conversations/" + convID + "/messages", nil, unknownConv},
		{"PATCH", "/api/conversations/" + convID, map[string]any{"title": "mine"}, unknownConv},
		{"POST", "/api/conversations/" + convID + "/messages", map[string]any{"content": "hi"}, unknownConv},
		{"DELETE", "/api/conversations/" + convID, nil, unknownConv},
		{"PATCH", "/api/messages/" + msgID, map[string]any{"content": "x"}, unknownMsg},
		{"DELETE", "/api/messages/" + msgID, nil, unknownMsg},
		{"POST", "/api/messages/" + msgID + "/restore", nil, unknownMsg},
	} {
		r := e.do(tc.method, tc.path, appKey, tc.body, as("bob")...)
		if r.status != tc.same.status || r.raw != tc.same.raw {
			t.Errorf("bob %s %s = %d %s, want exactly the unknown-id answer %d %s", tc.method, tc.path, r.status, r.raw, tc.same.status, tc.same.raw)
		}
	}
	for _, who := range []struct {
		name  string
		token string
		hdr   []string
	}{{"bob", appKey, as("bob")}, {"owner's own login", e.conTok, nil}} {
		list := e.do("GET", "/api/conversations", who.token, nil, who.hdr...)
		wantStatus(t, list, 200)
		if data := list.body["data"].([]any); len(data) != 0 {
			t.Errorf("%s lists %d conversations, want 0", who.name, len(data))
		}
		search := e.do("GET", "/api/search?q=plans", who.token, nil, who.hdr...)
		wantStatus(t, search, 200)
		if data := search.body["data"].([]any); len(data) != 0 {
			t.Errorf("%s finds %d messages, want 0", who.name, len(data))
		}
	}
	// Alice still sees her own: her message and the echo model's reply.
	search := e.do("GET", "/api/search?q=plans", appKey, nil, as("alice")...)
	wantStatus(t, search, 200)
	data := search.body["data"].([]any)
	found := false
	for _, d := range data {
		found = found || d.(map[string]any)["message_id"] == msgID
	}
	if len(data) != 2 || !found {
		t.Fatalf("alice's search = %s, want her message and the reply", search.raw)
	}
	got := e.do("GET", "/api/conversations/"+convID, appKey, nil, as("alice")...)
	if got.status != 200 || got.body["title"] != "alice's" {
		t.Fatalf("alice's conversation = %d %s", got.status, got.raw)
	}
}
