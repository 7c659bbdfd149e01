package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

func TestConversationAPI(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
		e := newConvEnv(t, envOpt{db: db})

		// Create: exact fields.
		resp, b := e.call(t, alice, "POST", "/api/conversations", `{"title":"Trip","system_prompt":"be brief"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, b)
		}
		wantKeys(t, b, convKeys)
		var c convJSON
		_ = json.Unmarshal(b, &c)
		if !strings.HasPrefix(c.ID, "conv_") || c.Title != "Trip" || c.Model != "" || c.SystemPrompt != "be brief" ||
			c.EndUserID != nil || c.CreatedAt.IsZero() || !c.LastActivityAt.Equal(c.CreatedAt) {
			t.Fatalf("created = %+v", c)
		}
		var got convJSON
		e.callJSON(t, alice, "GET", "/api/conversations/"+c.ID, "", http.StatusOK, &got)
		if diff := cmp.Diff(c, got); diff != "" {
			t.Fatalf("get (-created +got):\n%s", diff)
		}

		// Post without a model: the first configured model (echo).
		resp, b = e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hello there"}`)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("post: %d %s", resp.StatusCode, b)
		}
		var raw struct {
			UserMessage      json.RawMessage `json:"user_message"`
			AssistantMessage json.RawMessage `json:"assistant_message"`
		}
		_ = json.Unmarshal(b, &raw)
		wantKeys(t, raw.UserMessage, msgKeys)
		wantKeys(t, raw.AssistantMessage, msgKeys)
		var p1 postJSON
		_ = json.Unmarshal(b, &p1)
		u, a := p1.UserMessage, p1.AssistantMessage
		if u.Role != "user" || u.Content != "hello there" || u.ParentID != nil || u.Model != nil || u.Usage != nil ||
			u.Status != "complete" || u.ConversationID != c.ID || u.EditedAt != nil || u.DeletedAt != nil {
			t.Fatalf("user message = %+v", u)
		}
		// echo: prompt = words of every message sent (system 2 + user 2).
		if a.Role != "assistant" || a.Content != "hello there" || a.ParentID == nil || *a.ParentID != u.ID ||
			a.Model == nil || *a.Model != "echo" || a.Status != "complete" ||
			a.Usage == nil || *a.Usage != (usageJSON{PromptTokens: 4, CompletionTokens: 2, TotalTokens: 6}) {
			t.Fatalf("assistant message = %+v usage %+v", a, a.Usage)
		}
		list := e.messages(t, alice, c.ID)
		if diff := cmp.Diff([]msgJSON{u, a}, list); diff != "" {
			t.Fatalf("messages (-posted +listed):\n%s", diff)
		}

		// A branch: reply again to the first user message.
		p2 := e.post(t, alice, c.ID, `{"content":"second branch","parent_id":"`+u.ID+`"}`)
		if p2.UserMessage.ParentID == nil || *p2.UserMessage.ParentID != u.ID || p2.AssistantMessage.Content != "second branch" {
			t.Fatalf("branch = %+v", p2)
		}

		// Conversation moved to the front of the list, cursor null.
		var cl struct {
			Data       []convJSON `json:"data"`
			NextCursor *string    `json:"next_cursor"`
		}
		c2 := e.createConv(t, alice, "")
		e.post(t, alice, c.ID, `{"content":"bump"}`)
		e.callJSON(t, alice, "GET", "/api/conversations", "", http.StatusOK, &cl)
		if len(cl.Data) != 2 || cl.Data[0].ID != c.ID || cl.Data[1].ID != c2.ID || cl.NextCursor != nil {
			t.Fatalf("list = %+v", cl)
		}
		e.callJSON(t, alice, "GET", "/api/conversations?limit=1", "", http.StatusOK, &cl)
		if len(cl.Data) != 1 || cl.Data[0].ID != c.ID || cl.NextCursor == nil {
			t.Fatalf("page 1 = %+v", cl)
		}
		e.callJSON(t, alice, "GET", "/api/conversations?limit=1&cursor="+url.QueryEscape(*cl.NextCursor), "", http.StatusOK, &cl)
		if len(cl.Data) != 1 || cl.Data[0].ID != c2.ID || cl.NextCursor != nil {
			t.Fatalf("page 2 = %+v", cl)
		}

		// Patch.
		e.callJSON(t, alice, "PATCH", "/api/conversations/"+c.ID, `{"title":"Renamed","model":"echo"}`, http.StatusOK, &got)
		if got.Title != "Renamed" || got.Model != "echo" || got.SystemPrompt != "be brief" {
			t.Fatalf("patched = %+v", got)
		}

		// Edit, delete, restore.
		var ed msgJSON
		e.callJSON(t, alice, "PATCH", "/api/messages/"+u.ID, `{"content":"hello edited"}`, http.StatusOK, &ed)
		if ed.Content != "hello edited" || ed.EditedAt == nil || ed.ID != u.ID {
			t.Fatalf("edited = %+v", ed)
		}
		resp, b = e.call(t, alice, "DELETE", "/api/messages/"+u.ID, "")
		if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
			t.Fatalf("delete message: %d %q", resp.StatusCode, b)
		}
		list = e.messages(t, alice, c.ID)
		if list[0].ID != u.ID || list[0].DeletedAt == nil || list[0].Content != "" {
			t.Fatalf("deleted message listed as %+v", list[0])
		}
		var rs msgJSON
		e.callJSON(t, alice, "POST", "/api/messages/"+u.ID+"/restore", "", http.StatusOK, &rs)
		if rs.DeletedAt != nil || rs.Content != "hello edited" {
			t.Fatalf("restored = %+v", rs)
		}

		// Search.
		var sr struct {
			Data []struct {
				ConversationID string    `json:"conversation_id"`
				MessageID      string    `json:"message_id"`
				Snippet        string    `json:"snippet"`
				CreatedAt      time.Time `json:"created_at"`
			} `json:"data"`
		}
		e.callJSON(t, alice, "GET", "/api/search?q=edited", "", http.StatusOK, &sr)
		if len(sr.Data) != 1 || sr.Data[0].MessageID != u.ID || sr.Data[0].ConversationID != c.ID ||
			sr.Data[0].Snippet != "hello **edited**" || !sr.Data[0].CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("search = %+v", sr)
		}

		// Delete the conversation.
		resp, _ = e.call(t, alice, "DELETE", "/api/conversations/"+c.ID, "")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("delete conversation: %d", resp.StatusCode)
		}
		resp, b = e.call(t, alice, "GET", "/api/conversations/"+c.ID, "")
		wantError(t, resp, b, 404, "not_found_error", "conversation_not_found", nil)
		e.callJSON(t, alice, "GET", "/api/search?q=edited", "", http.StatusOK, &sr)
		if len(sr.Data) != 0 {
			t.Fatalf("search after delete = %+v", sr)
		}
	})
}

func TestConversationValidation(t *testing.T) {
	t.Parallel()
	engines(t, testConversationValidation)
}

func testConversationValidation(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
	e := newConvEnv(t, envOpt{db: db})
	c := e.createConv(t, alice, `{}`)
	msgs := "/api/conversations/" + c.ID + "/messages"
	for _, tc := range []struct {
		name, method, path, body string
		who                      as
		status                   int
		typ, code                string
		param                    *string
	}{
		{"MissingContent", "POST", msgs, `{}`, alice, 400, "invalid_request_error", "missing_field", ptr("body.content")},
		{"EmptyContent", "POST", msgs, `{"content":"  "}`, alice, 400, "invalid_request_error", "invalid_field", ptr("body.content")},
		{"UserIDInBody", "POST", msgs, `{"content":"x","user_id":"u"}`, endU1, 400, "invalid_request_error", "invalid_field", ptr("body.user_id")},
		{"UnknownModel", "POST", msgs, `{"content":"x","model":"nope"}`, alice, 404, "not_found_error", "model_not_found", ptr("body.model")},
		{"UnknownModelOnCreate", "POST", "/api/conversations", `{"model":"nope"}`, alice, 404, "not_found_error", "model_not_found", ptr("body.model")},
		{"UnknownParent", "POST", msgs, `{"content":"x","parent_id":"msg_nope"}`, alice, 404, "not_found_error", "message_not_found", ptr("body.parent_id")},
		{"ViewerCannotPost", "POST", msgs, `{"content":"x"}`, as{who: "viewer:alice"}, 403, "permission_error", "insufficient_role", nil},
		{"ViewerCannotCreate", "POST", "/api/conversations", `{}`, as{who: "viewer:alice"}, 403, "permission_error", "insufficient_role", nil},
		{"AppNeedsEndUser", "POST", "/api/conversations", `{}`, as{who: "app"}, 400, "invalid_request_error", "missing_field", ptr("headers.x-end-user-id")},
		{"AdminAppNeedsEndUserToWrite", "POST", "/api/conversations", `{}`, tenant, 400, "invalid_request_error", "missing_field", ptr("headers.x-end-user-id")},
		{"UserIDInQuery", "GET", "/api/conversations?user_id=x", "", endU1, 400, "invalid_request_error", "invalid_field", ptr("query.user_id")},
		{"LimitZero", "GET", "/api/conversations?limit=0", "", alice, 400, "invalid_request_error", "invalid_field", ptr("query.limit")},
		{"LimitTooLarge", "GET", "/api/conversations?limit=201", "", alice, 400, "invalid_request_error", "invalid_field", ptr("query.limit")},
		{"BadCursor", "GET", "/api/conversations?cursor=!!!", "", alice, 400, "invalid_request_error", "invalid_field", ptr("query.cursor")},
		{"GarbageCursor", "GET", "/api/conversations?cursor=bm90IGpzb24", "", alice, 400, "invalid_request_error", "invalid_field", ptr("query.cursor")},
		{"SearchWithoutQ", "GET", "/api/search", "", alice, 400, "invalid_request_error", "missing_field", ptr("query.q")},
		{"EditEmpty", "PATCH", "/api/messages/msg_x", `{"content":""}`, alice, 400, "invalid_request_error", "invalid_field", ptr("body.content")},
		{"TitleTooLong", "PATCH", "/api/conversations/" + c.ID, `{"title":"` + strings.Repeat("a", 501) + `"}`, alice, 400, "invalid_request_error", "invalid_field", ptr("body.title")},
		{"NULInContent", "POST", msgs, `{"content":"a\u0000b"}`, alice, 400, "invalid_request_error", "invalid_field", ptr("body.content")},
		{"NULInTitle", "POST", "/api/conversations", `{"title":"a\u0000b"}`, alice, 400, "invalid_request_error", "invalid_field", ptr("body.title")},
		{"NULInSystemPrompt", "PATCH", "/api/conversations/" + c.ID, `{"system_prompt":"\u0000"}`, alice, 400, "invalid_request_error", "invalid_field", ptr("body.system_prompt")},
		{"NULInCursorID", "GET", "/api/conversations?cursor=eyJ0IjoxLCJpZCI6Ilx1MDAwMCJ9", "", alice, 400, "invalid_request_error", "invalid_field", ptr("query.cursor")},
		{"NULInConversationID", "GET", "/api/conversations/conv_%00", "", alice, 404, "not_found_error", "conversation_not_found", nil},
		{"InvalidUTF8ConversationID", "GET", "/api/conversations/conv_%FF/messages", "", alice, 404, "not_found_error", "conversation_not_found", nil},
		{"NULInMessageID", "PATCH", "/api/messages/msg_%00", `{"content":"x"}`, alice, 404, "not_found_error", "message_not_found", nil},
		{"InvalidUTF8MessageID", "DELETE", "/api/messages/msg_%FF", "", alice, 404, "not_found_error", "message_not_found", nil},
		{"Unauthenticated", "GET", "/api/conversations", "", as{}, 401, "authentication_error", "missing_authorization", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.call(t, tc.who, tc.method, tc.path, tc.body)
			wantError(t, resp, b, tc.status, tc.typ, tc.code, tc.param)
		})
	}
	if n := len(e.messages(t, alice, c.ID)); n != 0 {
		t.Fatalf("rejected posts stored %d messages", n)
	}
}

// TestConversationIsolation checks every route between two users and
// between two end users of one app credential: another owner's id answers
// exactly as an id that does not exist.
func TestConversationIsolation(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{})
	type data struct {
		who            as
		conv, msg, ans string
	}
	var all []data
	for _, who := range []as{alice, bob, endU1, endU2} {
		c := e.createConv(t, who, `{"title":"mine"}`)
		p := e.post(t, who, c.ID, `{"content":"secret zebra"}`)
		all = append(all, data{who, c.ID, p.UserMessage.ID, p.AssistantMessage.ID})
	}
	routes := func(conv, msg string) [][3]string {
		return [][3]string{
			{"GET", "/api/conversations/" + conv, ""},
			{"PATCH", "/api/conversations/" + conv, `{"title":"stolen"}`},
			{"GET", "/api/conversations/" + conv + "/messages", ""},
			{"POST", "/api/conversations/" + conv + "/messages", `{"content":"hi"}`},
			{"POST", "/api/conversations/" + conv + "/messages", `{"content":"hi","stream":true}`},
			{"PATCH", "/api/messages/" + msg, `{"content":"stolen"}`},
			{"DELETE", "/api/messages/" + msg, ""},
			{"POST", "/api/messages/" + msg + "/restore", ""},
			{"DELETE", "/api/conversations/" + conv, ""},
		}
	}
	for _, me := range all {
		unknown := routes("conv_doesnotexist", "msg_doesnotexist")
		for _, other := range all {
			if other == me {
				continue
			}
			for i, rt := range routes(other.conv, other.msg) {
				resp, b := e.call(t, me.who, rt[0], rt[1], rt[2])
				wresp, wb := e.call(t, me.who, unknown[i][0], unknown[i][1], unknown[i][2])
				if resp.StatusCode != http.StatusNotFound || resp.StatusCode != wresp.StatusCode || string(b) != string(wb) {
					t.Errorf("%v %s %s on %v's: %d %s; unknown id: %d %s", me.who, rt[0], rt[1], other.who, resp.StatusCode, b, wresp.StatusCode, wb)
				}
			}
			// My conversation, their message as parent.
			resp, b := e.call(t, me.who, "POST", "/api/conversations/"+me.conv+"/messages", `{"content":"x","parent_id":"`+other.msg+`"}`)
			wantError(t, resp, b, 404, "not_found_error", "message_not_found", ptr("body.parent_id"))
		}
		var cl struct {
			Data []convJSON `json:"data"`
		}
		e.callJSON(t, me.who, "GET", "/api/conversations", "", http.StatusOK, &cl)
		if len(cl.Data) != 1 || cl.Data[0].ID != me.conv || cl.Data[0].Title != "mine" {
			t.Errorf("%v lists %+v", me.who, cl.Data)
		}
		var sr struct {
			Data []struct {
				MessageID string `json:"message_id"`
			} `json:"data"`
		}
		e.callJSON(t, me.who, "GET", "/api/search?q=zebra", "", http.StatusOK, &sr)
		if len(sr.Data) != 2 || (sr.Data[0].MessageID != me.msg && sr.Data[0].MessageID != me.ans) ||
			(sr.Data[1].MessageID != me.msg && sr.Data[1].MessageID != me.ans) {
			t.Errorf("%v search = %+v", me.who, sr.Data)
		}
		msgs := e.messages(t, me.who, me.conv)
		if len(msgs) != 2 || msgs[0].Content != "secret zebra" || msgs[0].DeletedAt != nil || msgs[0].EditedAt != nil {
			t.Errorf("%v's messages were touched: %+v", me.who, msgs)
		}
	}
	// The tenant-wide admin app credential reads every end user of its
	// owner (and no one else's); the end user is shown.
	var cl struct {
		Data []convJSON `json:"data"`
	}
	e.callJSON(t, tenant, "GET", "/api/conversations", "", http.StatusOK, &cl)
	var eus []string
	for _, c := range cl.Data {
		if c.EndUserID == nil {
			t.Fatalf("tenant-wide list has a user-owned conversation: %+v", c)
		}
		eus = append(eus, *c.EndUserID)
	}
	sort.Strings(eus)
	if diff := cmp.Diff([]string{"eu-1", "eu-2"}, eus); diff != "" {
		t.Fatalf("tenant-wide end users (-want +got):\n%s", diff)
	}
	if got := e.messages(t, tenant, all[2].conv); len(got) != 2 {
		t.Fatalf("tenant-wide messages = %+v", got)
	}
	var sr struct {
		Data []struct {
			ConversationID string `json:"conversation_id"`
		} `json:"data"`
	}
	e.callJSON(t, tenant, "GET", "/api/search?q=zebra", "", http.StatusOK, &sr)
	for _, h := range sr.Data {
		if h.ConversationID != all[2].conv && h.ConversationID != all[3].conv {
			t.Fatalf("tenant-wide search found %s", h.ConversationID)
		}
	}
	if len(sr.Data) != 4 {
		t.Fatalf("tenant-wide search = %+v, want the 4 messages of both end users", sr.Data)
	}
	resp, b := e.call(t, tenant, "GET", "/api/conversations/"+all[0].conv, "")
	wantError(t, resp, b, 404, "not_found_error", "conversation_not_found", nil)
}
