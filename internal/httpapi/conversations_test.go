package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// testAuth maps the X-Test-As header to a principal, standing in for the
// real auth layer: "user:<id>", "viewer:<id>", "app" (contributor app
// credential of user "appowner"), "appadmin" (admin app credential of the
// same owner). No header is 401.
type testAuth struct{}

func (testAuth) Authenticate(r *http.Request) (*gateway.Principal, error) {
	v := r.Header.Get("X-Test-As")
	kind, id, _ := strings.Cut(v, ":")
	switch kind {
	case "user":
		return &gateway.Principal{Kind: gateway.PrincipalUser, UserID: id, Role: gateway.RoleContributor}, nil
	case "viewer":
		return &gateway.Principal{Kind: gateway.PrincipalUser, UserID: id, Role: gateway.RoleViewer}, nil
	case "app":
		return &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "appowner", KeyID: "k-app", Role: gateway.RoleContributor, EndUserMode: true}, nil
	case "appadmin":
		return &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "appowner", KeyID: "k-admin", Role: gateway.RoleAdmin, EndUserMode: true}, nil
	}
	return nil, &gateway.Error{Kind: gateway.KindUnauthenticated, Code: "missing_authorization", Message: "no credential"}
}

// as is who a request acts as: X-Test-As and, for app credentials, the
// end user.
type as struct{ who, endUser string }

var (
	alice  = as{who: "user:alice"}
	bob    = as{who: "user:bob"}
	endU1  = as{who: "app", endUser: "eu-1"}
	endU2  = as{who: "app", endUser: "eu-2"}
	tenant = as{who: "appadmin"}
)

// finishFaults wraps a store and fails the first n FinishMessage calls.
type finishFaults struct {
	gateway.ConversationStore
	n atomic.Int32
}

func (f *finishFaults) FinishMessage(ctx context.Context, o gateway.Owner, id string, r gateway.MessageResult) (gateway.Message, error) {
	if f.n.Add(-1) >= 0 {
		return gateway.Message{}, errors.New("injected: database is gone")
	}
	return f.ConversationStore.FinishMessage(ctx, o, id, r)
}

type convEnv struct {
	srv   *httptest.Server
	store gateway.ConversationStore
	up    *llmtest.Server // nil with the echo provider
}

type envOpt struct {
	replies []llmtest.Reply // nil: the built-in echo provider
	store   func(gateway.ConversationStore) gateway.ConversationStore
	db      func(t testing.TB) gateway.ConversationStore
}

func newConvEnv(t *testing.T, o envOpt) *convEnv {
	t.Helper()
	var st gateway.ConversationStore
	if o.db != nil {
		st = o.db(t)
	} else {
		st = sqltest.SQLite(t)
	}
	env := &convEnv{store: st}
	popt := proxy.Options{}
	if o.replies != nil {
		env.up = llmtest.NewT(t, o.replies...)
		popt.Providers = []config.Provider{{Name: "up", Type: "openai", BaseURL: env.up.URL, Timeout: time.Minute}}
		popt.Models = []config.Model{{Name: "fast", Provider: "up", UpstreamModel: "org/fast"}, {Name: "other", Provider: "up"}}
	}
	px, err := proxy.New(popt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	if o.store != nil {
		st = o.store(st)
	}
	s := httpapi.New(httpapi.Options{Auth: testAuth{}, Conversations: st, Completer: px,
		Log: slog.New(slog.DiscardHandler)})
	env.srv = httptest.NewServer(s.Handler())
	t.Cleanup(env.srv.Close)
	return env
}

func (e *convEnv) req(t *testing.T, who as, method, path, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Test-As", who.who)
	if who.endUser != "" {
		req.Header.Set("X-End-User-Id", who.endUser)
	}
	return req
}

func (e *convEnv) call(t *testing.T, who as, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	return do(t, e.req(t, who, method, path, body))
}

// callJSON calls and decodes a success answer with the wanted status.
func (e *convEnv) callJSON(t *testing.T, who as, method, path, body string, status int, out any) {
	t.Helper()
	resp, b := e.call(t, who, method, path, body)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", method, path, resp.StatusCode, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// Wire shapes, decoded strictly enough to compare.
type convJSON struct {
	ID             string    `json:"id"`
	Title          string    `json:"title"`
	Model          string    `json:"model"`
	SystemPrompt   string    `json:"system_prompt"`
	EndUserID      *string   `json:"end_user_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	LastActivityAt time.Time `json:"last_activity_at"`
}

type usageJSON struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

type msgJSON struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversation_id"`
	ParentID       *string    `json:"parent_id"`
	Role           string     `json:"role"`
	Content        string     `json:"content"`
	Model          *string    `json:"model"`
	Status         string     `json:"status"`
	Usage          *usageJSON `json:"usage"`
	CreatedAt      time.Time  `json:"created_at"`
	EditedAt       *time.Time `json:"edited_at"`
	DeletedAt      *time.Time `json:"deleted_at"`
}

var (
	convKeys = []string{"created_at", "end_user_id", "id", "last_activity_at", "model", "system_prompt", "title", "updated_at"}
	msgKeys  = []string{"content", "conversation_id", "created_at", "deleted_at", "edited_at", "id", "model", "parent_id", "role", "status", "usage"}
)

// wantKeys checks that raw is a JSON object with exactly keys.
func wantKeys(t *testing.T, raw json.RawMessage, keys []string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	if diff := cmp.Diff(keys, got); diff != "" {
		t.Fatalf("keys of %s (-want +got):\n%s", raw, diff)
	}
}

func (e *convEnv) createConv(t *testing.T, who as, body string) convJSON {
	t.Helper()
	var c convJSON
	e.callJSON(t, who, "POST", "/api/conversations", body, http.StatusCreated, &c)
	return c
}

type postJSON struct {
	UserMessage      msgJSON `json:"user_message"`
	AssistantMessage msgJSON `json:"assistant_message"`
}

func (e *convEnv) post(t *testing.T, who as, convID, body string) postJSON {
	t.Helper()
	var p postJSON
	e.callJSON(t, who, "POST", "/api/conversations/"+convID+"/messages", body, http.StatusCreated, &p)
	return p
}

func (e *convEnv) messages(t *testing.T, who as, convID string) []msgJSON {
	t.Helper()
	var l struct {
		Data []msgJSON `json:"data"`
	}
	e.callJSON(t, who, "GET", "/api/conversations/"+convID+"/messages", "", http.StatusOK, &l)
	return l.Data
}

// engines runs f on SQLite, and on PostgreSQL when it is configured.
func engines(t *testing.T, f func(t *testing.T, db func(testing.TB) gateway.ConversationStore)) {
	t.Run("SQLite", func(t *testing.T) {
		f(t, func(t testing.TB) gateway.ConversationStore { return sqltest.SQLite(t) })
	})
	t.Run("Postgres", func(t *testing.T) {
		sqltest.PostgresURL(t) // skips without a server
		f(t, func(t testing.TB) gateway.ConversationStore { return sqltest.Postgres(t) })
	})
}

func TestConversationAPI(t *testing.T) {
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

// sseEvent is one event of a streamed reply.
type sseEvent struct {
	Type string
	Data string
}

func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	for ev, err := range llm.ReadEvents(r) {
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		out = append(out, sseEvent{ev.Type, ev.Data})
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func types(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func (e *convEnv) stream(t *testing.T, who as, convID, body string) []sseEvent {
	t.Helper()
	resp, err := http.DefaultClient.Do(e.req(t, who, "POST", "/api/conversations/"+convID+"/messages", body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return readSSE(t, resp.Body)
}

func TestStreamNormal(t *testing.T) {
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}, PromptTokens: 9}}})
	c := e.createConv(t, endU1, `{"system_prompt":"sys"}`)
	evs := e.stream(t, endU1, c.ID, `{"content":"hi","stream":true,"model":"fast"}`)
	if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "message.delta", "message.done"}, types(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	u, pending := decode[msgJSON](t, evs[0].Data), decode[msgJSON](t, evs[1].Data)
	if u.Role != "user" || u.Content != "hi" || pending.Role != "assistant" || pending.Status != "pending" || pending.Content != "" {
		t.Fatalf("created = %+v / %+v", u, pending)
	}
	wantKeys(t, json.RawMessage(evs[2].Data), []string{"delta", "message_id"})
	if d := decode[httpapi.DeltaEvent](t, evs[2].Data); d != (httpapi.DeltaEvent{MessageID: pending.ID, Delta: "Hello"}) {
		t.Fatalf("delta = %+v", d)
	}
	wantKeys(t, json.RawMessage(evs[4].Data), msgKeys)
	done := decode[msgJSON](t, evs[4].Data)
	if done.ID != pending.ID || done.Content != "Hello world" || done.Status != "complete" ||
		*done.Usage != (usageJSON{PromptTokens: 9, CompletionTokens: 2, TotalTokens: 11}) || *done.Model != "fast" {
		t.Fatalf("done = %+v", done)
	}
	if diff := cmp.Diff([]msgJSON{u, done}, e.messages(t, endU1, c.ID)); diff != "" {
		t.Fatalf("stored (-streamed +listed):\n%s", diff)
	}
	// The upstream got the path: system prompt, then the user message.
	var body struct {
		Model    string        `json:"model"`
		Messages []llm.Message `json:"messages"`
	}
	_ = json.Unmarshal(e.up.Next(t).Body, &body)
	if body.Model != "org/fast" || len(body.Messages) != 2 || body.Messages[0].Role != "system" || body.Messages[0].Text() != "sys" ||
		body.Messages[1].Role != "user" || body.Messages[1].Text() != "hi" {
		t.Fatalf("upstream messages = %+v", body)
	}
}

func TestPathSentToModel(t *testing.T) {
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"A1"}}, {Words: []string{"A2"}}, {Words: []string{"B"}}}})
	c := e.createConv(t, alice, `{"model":"fast","system_prompt":"sys"}`)
	p1 := e.post(t, alice, c.ID, `{"content":"Q1"}`)
	e.up.Next(t)
	e.post(t, alice, c.ID, `{"content":"Q2"}`)
	e.up.Next(t)
	// Branch from the first answer: Q2/A2 are not on the path.
	e.post(t, alice, c.ID, `{"content":"Q3","parent_id":"`+p1.AssistantMessage.ID+`"}`)
	var body struct {
		Messages []llm.Message `json:"messages"`
	}
	_ = json.Unmarshal(e.up.Next(t).Body, &body)
	var got []string
	for _, m := range body.Messages {
		got = append(got, m.Role+":"+m.Text())
	}
	if diff := cmp.Diff([]string{"system:sys", "user:Q1", "assistant:A1", "user:Q3"}, got); diff != "" {
		t.Fatalf("path (-want +got):\n%s", diff)
	}
}

func TestStreamCutByUpstream(t *testing.T) {
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}, CutAfter: 2}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	evs := e.stream(t, alice, c.ID, `{"content":"hi","stream":true}`)
	if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "error", "message.done"}, types(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	env := decode[envelope](t, evs[3].Data)
	if env.Error.Type != "upstream_error" || env.Error.Code != "upstream_error" || env.Error.Message == "" {
		t.Fatalf("error event = %s", evs[3].Data)
	}
	done := decode[msgJSON](t, evs[4].Data)
	if done.Content != "Hello" || done.Status != "incomplete" {
		t.Fatalf("done = %+v", done)
	}
	if got := e.messages(t, alice, c.ID); len(got) != 2 || got[1].Content != "Hello" || got[1].Status != "incomplete" {
		t.Fatalf("stored = %+v", got)
	}
}

func TestUpstreamFailsBeforeAnswer(t *testing.T) {
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Status: 500}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`)
	wantError(t, resp, b, 502, "upstream_error", "upstream_error", nil)
	evs := e.stream(t, alice, c.ID, `{"content":"again","stream":true}`)
	if diff := cmp.Diff([]string{"message.created", "message.created", "error", "message.done"}, types(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	got := e.messages(t, alice, c.ID)
	if len(got) != 4 || got[0].Content != "hi" || got[1].Status != "error" || got[2].Content != "again" || got[3].Status != "error" {
		t.Fatalf("stored = %+v", got)
	}
	// Failed answers are not sent as context of the next message.
	e.up.Next(t)
	e.up.Next(t)
	e.up.SetReplies(llmtest.Reply{})
	e.post(t, alice, c.ID, `{"content":"third"}`)
	var body struct {
		Messages []llm.Message `json:"messages"`
	}
	_ = json.Unmarshal(e.up.Next(t).Body, &body)
	if len(body.Messages) != 3 {
		t.Fatalf("path = %+v", body.Messages)
	}
}

func TestStreamClientDisconnect(t *testing.T) {
	step := make(chan struct{})
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world", " again"}, Step: step}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := e.req(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi","stream":true}`).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	step <- struct{}{} // "Hello"
	// Read until the first delta arrived.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended early: %v", err)
		}
		if strings.HasPrefix(line, "event: message.delta") {
			break
		}
	}
	cancel()
	if !e.up.Next(t).Canceled {
		t.Fatal("upstream was not canceled")
	}
	// Bounded polling until the handler stored the reply.
	var got []msgJSON
	for range 1000 {
		got = e.messages(t, alice, c.ID)
		if got[1].Status != "pending" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got[1].Status != "incomplete" || got[1].Content != "Hello" {
		t.Fatalf("stored after disconnect = %+v", got[1])
	}
}

func TestFinalWriteFails(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "Whole", true: "Stream"}[stream], func(t *testing.T) {
			var faults *finishFaults
			e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}}},
				store: func(s gateway.ConversationStore) gateway.ConversationStore {
					faults = &finishFaults{ConversationStore: s}
					return faults
				}})
			c := e.createConv(t, alice, `{"model":"fast"}`)
			faults.n.Store(1)
			if stream {
				evs := e.stream(t, alice, c.ID, `{"content":"hi","stream":true}`)
				if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "message.delta", "error"}, types(evs)); diff != "" {
					t.Fatalf("events (-want +got):\n%s", diff)
				}
				env := decode[envelope](t, evs[4].Data)
				if env.Error.Type != "server_error" || env.Error.Code != "internal_error" {
					t.Fatalf("error event = %s", evs[4].Data)
				}
			} else {
				resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`)
				wantError(t, resp, b, 500, "server_error", "internal_error", nil)
			}
			// One user message, one assistant message marked error with
			// its text: nothing lost, nothing duplicated.
			got := e.messages(t, alice, c.ID)
			if len(got) != 2 || got[0].Content != "hi" || got[1].Status != "error" || got[1].Content != "Hello world" {
				t.Fatalf("stored = %+v", got)
			}
		})
	}
	t.Run("MarkFailsToo", func(t *testing.T) {
		var faults *finishFaults
		e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{}},
			store: func(s gateway.ConversationStore) gateway.ConversationStore {
				faults = &finishFaults{ConversationStore: s}
				return faults
			}})
		c := e.createConv(t, alice, `{"model":"fast"}`)
		faults.n.Store(2)
		resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`)
		wantError(t, resp, b, 500, "server_error", "internal_error", nil)
		got := e.messages(t, alice, c.ID)
		if len(got) != 2 || got[1].Status != "pending" {
			t.Fatalf("stored = %+v", got)
		}
		// The start-up sweep marks what a crash (or a dead database) left.
		if n, err := e.store.SweepPendingMessages(context.Background(), time.Now().Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v", n, err)
		}
		if got := e.messages(t, alice, c.ID); got[1].Status != "incomplete" {
			t.Fatalf("after sweep = %+v", got[1])
		}
	})
}

func TestSearchHostileInput(t *testing.T) {
	engines(t, testSearchHostileInput)
}

func testSearchHostileInput(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
	e := newConvEnv(t, envOpt{db: db})
	c := e.createConv(t, alice, "")
	p := e.post(t, alice, c.ID, `{"content":"100% of a_b is \"quoted\" NOT OR near"}`)
	for _, q := range []string{`"quoted"`, `"quoted`, `NOT`, `OR`, `near(`, `100%`, `a_b`, `quoted*`, `-quoted`, `quoted) OR (near`, "a\x00b"} {
		var sr struct {
			Data []struct {
				MessageID string `json:"message_id"`
			} `json:"data"`
		}
		e.callJSON(t, alice, "GET", "/api/search?q="+url.QueryEscape(q), "", http.StatusOK, &sr)
		if len(sr.Data) == 0 {
			t.Errorf("search %q found nothing", q)
			continue
		}
		for _, h := range sr.Data {
			if h.MessageID != p.UserMessage.ID && h.MessageID != p.AssistantMessage.ID {
				t.Errorf("search %q found %s", q, h.MessageID)
			}
		}
	}
	for _, q := range []string{`%`, `_`, `'; DROP TABLE messages; --`, `*`, `"`, `' OR 1=1 --`, `zebra`, "\x00"} {
		resp, b := e.call(t, alice, "GET", "/api/search?q="+url.QueryEscape(q), "")
		if resp.StatusCode != http.StatusOK || string(b) != "{\"data\":[]}\n" {
			t.Errorf("search %q: %d %s", q, resp.StatusCode, b)
		}
	}
	if got := e.messages(t, alice, c.ID); len(got) != 2 {
		t.Fatalf("messages after hostile searches = %d", len(got))
	}
}
