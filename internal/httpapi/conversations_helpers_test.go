package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
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
	svc   *conversation.Service
}

type envOpt struct {
	replies []llmtest.Reply // nil: the built-in echo provider
	store   func(gateway.ConversationStore) gateway.ConversationStore
	db      func(t testing.TB) gateway.ConversationStore
	now     func() time.Time // the service's clock (nil: time.Now)
	log     io.Writer        // server and access log (nil: discarded)
	users   conversation.Users
	// finishRetry is the service's FinishRetry (0: one attempt).
	finishRetry time.Duration
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
	popt := proxy.Options{Models: []proxy.Model{{Name: echo.Model, Provider: echo.New(echo.Model, nil)}}}
	if o.replies != nil {
		env.up = llmtest.NewT(t, o.replies...)
		up := openai.New(openai.Options{Name: "up", BaseURL: env.up.URL, Timeout: time.Minute})
		popt.Models = []proxy.Model{{Name: "fast", Provider: up, UpstreamModel: "org/fast"}, {Name: "other", Provider: up}}
	}
	px, err := proxy.New(popt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	if o.store != nil {
		st = o.store(st)
	}
	log := slog.New(slog.DiscardHandler)
	var access *slog.Logger
	if o.log != nil {
		log = slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		access = log
	}
	env.svc = conversation.New(conversation.Options{Store: st, Completer: px, Now: o.now, Log: log, Users: o.users, FinishRetry: o.finishRetry})
	s := httpapi.New(httpapi.Options{Auth: testAuth{}, Conversations: env.svc, Log: log, AccessLog: access})
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
	convKeys = []string{"created_at", "end_user_id", "id", "last_activity_at", "model", "role", "system_prompt", "title", "unread_count", "updated_at"}
	msgKeys  = []string{"author", "content", "conversation_id", "created_at", "deleted_at", "edited_at", "id", "model", "parent_id", "role", "status", "usage"}
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
		t.Parallel()
		f(t, func(t testing.TB) gateway.ConversationStore { return sqltest.SQLite(t) })
	})
	t.Run("Postgres", func(t *testing.T) {
		t.Parallel()
		sqltest.PostgresURL(t) // skips without a server
		f(t, func(t testing.TB) gateway.ConversationStore { return sqltest.Postgres(t) })
	})
}
