package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

var (
	writerU  = as{who: "user:wendy"}
	readerU  = as{who: "user:rita"}
	removedU = as{who: "user:remy"}
	strangeU = as{who: "user:sam"}
)

type errJSON struct {
	Error struct {
		Type    string  `json:"type"`
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	} `json:"error"`
}

// TestParticipantMatrix: every conversation and message route × {owner,
// writer, reader, removed participant, stranger, end user of an app
// credential}. Allowed calls succeed; every other one answers exactly what
// the same call answers for an unknown id (a reader posting: 403
// insufficient_role).
func TestParticipantMatrix(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
		e := newConvEnv(t, envOpt{db: db})
		c := e.createConv(t, alice, `{"title":"shared"}`)
		first := e.post(t, alice, c.ID, `{"content":"owner words zebra"}`)
		for _, p := range []struct{ who, role string }{{"wendy", "writer"}, {"rita", "reader"}, {"remy", "writer"}} {
			e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/participants",
				`{"user_id":"`+p.who+`","role":"`+p.role+`"}`, http.StatusCreated, nil)
		}
		e.callJSON(t, alice, "DELETE", "/api/conversations/"+c.ID+"/participants/remy", "", http.StatusNoContent, nil)
		const unknownConv, unknownMsg = "conv_unknown", "msg_unknown"

		type actor struct {
			name string
			who  as
		}
		actors := []actor{{"owner", alice}, {"writer", writerU}, {"reader", readerU}, {"removed", removedU}, {"stranger", strangeU}, {"enduser", endU1}}
		// allowed[route] lists the actors the route lets through, with the
		// status they get; everyone else gets the unknown-id answer.
		type row struct {
			method, path, body string
			ok                 map[string]int
			reader403          bool
		}
		readers := map[string]int{"owner": 200, "writer": 200, "reader": 200}
		rows := []row{
			{"GET", "/api/conversations/{c}", "", readers, false},
			{"GET", "/api/conversations/{c}/messages", "", readers, false},
			{"GET", "/api/conversations/{c}/participants", "", readers, false},
			{"GET", "/api/conversations/{c}/threads", "", readers, false},
			{"POST", "/api/conversations/{c}/read", `{"message_id":"{m}"}`, readers, false},
			{"GET", "/api/conversations/{c}/invites", "", map[string]int{"owner": 200}, false},
			{"POST", "/api/conversations/{c}/invites", `{"role":"reader"}`, map[string]int{"owner": 201}, false},
			{"POST", "/api/conversations/{c}/share", "", map[string]int{"owner": 201}, false},
			{"DELETE", "/api/conversations/{c}/share", "", map[string]int{"owner": 204}, false},
			{"PATCH", "/api/conversations/{c}", `{"title":"renamed"}`, map[string]int{"owner": 200}, false},
			{"POST", "/api/conversations/{c}/messages", `{"content":"hello"}`, map[string]int{"owner": 201, "writer": 201}, true},
			{"POST", "/api/conversations/{c}/participants", `{"user_id":"xavier","role":"reader"}`, map[string]int{"owner": 201}, false},
			{"DELETE", "/api/conversations/{c}/participants/xavier", "", map[string]int{"owner": 204}, false},
			{"PATCH", "/api/messages/{m}", `{"content":"edited"}`, map[string]int{"owner": 200}, false},
			{"DELETE", "/api/messages/{m}", "", map[string]int{"owner": 204}, false},
			{"POST", "/api/messages/{m}/restore", "", map[string]int{"owner": 200}, false},
		}
		for _, r := range rows {
			for _, a := range actors {
				path := strings.NewReplacer("{c}", c.ID, "{m}", first.UserMessage.ID).Replace(r.path)
				unknown := strings.NewReplacer("{c}", unknownConv, "{m}", unknownMsg).Replace(r.path)
				if r.method == "DELETE" && strings.Contains(r.path, "participants") {
					// The unknown id of this route is the user's: an
					// unknown participant of the same conversation.
					unknown = "/api/conversations/" + c.ID + "/participants/nobody"
					e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/participants", `{"user_id":"xavier","role":"reader"}`, http.StatusCreated, nil)
				}
				if r.method == "DELETE" && strings.HasSuffix(r.path, "/share") {
					e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/share", "", http.StatusCreated, nil)
				}
				body := strings.ReplaceAll(r.body, "{m}", first.UserMessage.ID)
				resp, b := e.call(t, a.who, r.method, path, body)
				name := r.method + " " + r.path + " as " + a.name
				if st, ok := r.ok[a.name]; ok {
					if resp.StatusCode != st {
						t.Fatalf("%s: status = %d, want %d; %s", name, resp.StatusCode, st, b)
					}
					continue
				}
				if r.reader403 && a.name == "reader" {
					var ej errJSON
					_ = json.Unmarshal(b, &ej)
					if resp.StatusCode != 403 || ej.Error.Code != "insufficient_role" || ej.Error.Type != "permission_error" || ej.Error.Param != nil {
						t.Fatalf("%s: %d %s, want 403 insufficient_role", name, resp.StatusCode, b)
					}
					continue
				}
				uresp, ub := e.call(t, a.who, r.method, unknown, body)
				if resp.StatusCode != http.StatusNotFound || uresp.StatusCode != http.StatusNotFound || string(b) != string(ub) {
					t.Fatalf("%s: %d %s; unknown id: %d %s", name, resp.StatusCode, b, uresp.StatusCode, ub)
				}
			}
		}

		// Lists and search include the shared conversation, with the role,
		// for participants only.
		for _, a := range actors {
			var list struct {
				Data []map[string]any `json:"data"`
			}
			e.callJSON(t, a.who, "GET", "/api/conversations", "", http.StatusOK, &list)
			var hits struct {
				Data []SearchHitJSON `json:"data"`
			}
			e.callJSON(t, a.who, "GET", "/api/search?q=zebra", "", http.StatusOK, &hits)
			if _, ok := readers[a.name]; ok {
				want := map[string]string{"owner": "owner", "writer": "writer", "reader": "reader"}[a.name]
				if len(list.Data) != 1 || list.Data[0]["id"] != c.ID || list.Data[0]["role"] != want {
					t.Fatalf("%s: list = %+v, want the conversation with role %s", a.name, list.Data, want)
				}
				if len(hits.Data) != 1 || hits.Data[0].MessageID != first.AssistantMessage.ID { // the user message was edited above
					t.Fatalf("%s: search = %+v", a.name, hits.Data)
				}
				continue
			}
			for _, d := range list.Data {
				if d["id"] == c.ID {
					t.Fatalf("%s lists the shared conversation", a.name)
				}
			}
			if len(hits.Data) != 0 {
				t.Fatalf("%s: search = %+v, want nothing", a.name, hits.Data)
			}
		}

		// A writer edits, deletes and restores its own messages, not others'.
		wp := e.post(t, writerU, c.ID, `{"content":"writer words"}`)
		e.callJSON(t, writerU, "PATCH", "/api/messages/"+wp.UserMessage.ID, `{"content":"changed"}`, http.StatusOK, nil)
		e.callJSON(t, writerU, "DELETE", "/api/messages/"+wp.UserMessage.ID, "", http.StatusNoContent, nil)
		e.callJSON(t, writerU, "POST", "/api/messages/"+wp.UserMessage.ID+"/restore", "", http.StatusOK, nil)
		e.callJSON(t, writerU, "PATCH", "/api/messages/"+wp.AssistantMessage.ID, `{"content":"x"}`, http.StatusNotFound, nil)
		e.callJSON(t, readerU, "PATCH", "/api/messages/"+wp.UserMessage.ID, `{"content":"x"}`, http.StatusNotFound, nil)

		// A participant leaves by itself; then it is a stranger.
		e.callJSON(t, readerU, "DELETE", "/api/conversations/"+c.ID+"/participants/wendy", "", http.StatusNotFound, nil)
		e.callJSON(t, readerU, "DELETE", "/api/conversations/"+c.ID+"/participants/rita", "", http.StatusNoContent, nil)
		e.callJSON(t, readerU, "GET", "/api/conversations/"+c.ID, "", http.StatusNotFound, nil)

		// The owner alone deletes the conversation.
		for _, a := range actors[1:] {
			e.callJSON(t, a.who, "DELETE", "/api/conversations/"+c.ID, "", http.StatusNotFound, nil)
		}
		e.callJSON(t, alice, "DELETE", "/api/conversations/"+c.ID, "", http.StatusNoContent, nil)
		e.callJSON(t, writerU, "GET", "/api/conversations/"+c.ID, "", http.StatusNotFound, nil)
	})
}

type SearchHitJSON struct {
	MessageID string `json:"message_id"`
}

// TestParticipantRequests: the exact answers of adding participants.
func TestParticipantRequests(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{})
	c := e.createConv(t, alice, `{}`)
	eu := e.createConv(t, endU1, `{}`)
	for _, tc := range []struct {
		name, conv, body string
		who              as
		status           int
		code, param, typ string
	}{
		{"NoUser", c.ID, `{"role":"reader"}`, alice, 400, "missing_field", "body.user_id", "invalid_request_error"},
		{"Both", c.ID, `{"user_id":"x","email":"a@b.c","role":"reader"}`, alice, 400, "invalid_field", "body.email", "invalid_request_error"},
		{"NoRole", c.ID, `{"user_id":"x"}`, alice, 400, "missing_field", "body.role", "invalid_request_error"},
		{"BadRole", c.ID, `{"user_id":"x","role":"owner"}`, alice, 400, "invalid_field", "body.role", "invalid_request_error"},
		{"Self", c.ID, `{"user_id":"alice","role":"writer"}`, alice, 400, "invalid_field", "body.user_id", "invalid_request_error"},
		{"UnknownEmail", c.ID, `{"email":"nobody@example.com","role":"writer"}`, alice, 404, "not_found", "body.email", "not_found_error"},
		{"EndUsersConversation", eu.ID, `{"user_id":"x","role":"reader"}`, endU1, 404, "conversation_not_found", "", "not_found_error"},
		{"UnknownField", c.ID, `{"user_id":"x","role":"reader","extra":1}`, alice, 400, "invalid_field", "body.extra", "invalid_request_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.call(t, tc.who, "POST", "/api/conversations/"+tc.conv+"/participants", tc.body)
			var ej errJSON
			_ = json.Unmarshal(b, &ej)
			param := ""
			if ej.Error.Param != nil {
				param = *ej.Error.Param
			}
			if resp.StatusCode != tc.status || ej.Error.Code != tc.code || ej.Error.Type != tc.typ || param != tc.param {
				t.Fatalf("%d %s, want %d %s %s", resp.StatusCode, b, tc.status, tc.code, tc.param)
			}
		})
	}
	var p map[string]any
	e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/participants", `{"user_id":"wendy","role":"reader"}`, http.StatusCreated, &p)
	if p["user_id"] != "wendy" || p["role"] != "reader" || p["conversation_id"] != c.ID || len(p) != 4 {
		t.Fatalf("participant = %v", p)
	}
	e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/participants", `{"user_id":"wendy","role":"writer"}`, http.StatusCreated, &p)
	if p["role"] != "writer" {
		t.Fatalf("role change = %v", p)
	}
	resp, b := e.call(t, alice, "DELETE", "/api/conversations/"+c.ID+"/participants/nobody", "")
	var ej errJSON
	_ = json.Unmarshal(b, &ej)
	if resp.StatusCode != 404 || ej.Error.Code != "not_found" {
		t.Fatalf("remove unknown participant: %d %s", resp.StatusCode, b)
	}
}
