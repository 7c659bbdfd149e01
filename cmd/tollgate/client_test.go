package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/proxy"
)

// wantAPIError fails unless err is exactly want as a *gateway.Error (an
// empty want.Message matches any message).
func wantAPIError(t *testing.T, err error, want gateway.Error) {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v (%T), want *gateway.Error %s", err, err, want.Code)
	}
	got := *ge
	if want.Message == "" {
		got.Message = ""
	}
	if got != want {
		t.Fatalf("err = %+v, want %+v", got, want)
	}
}

// newPlainServer answers every request with status and a body that is not
// an error envelope (as a proxy in front of Tollgate might).
func newPlainServer(t *testing.T, status int, contentType, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func ptr[T any](v T) *T { return &v }

// ignoreTimes leaves server-set times out of comparisons (they are checked
// for being set where it matters).
var ignoreTimes = cmpopts.IgnoreTypes(time.Time{}, &time.Time{})

// TestClientAgainstServer drives every route of the typed client against
// the real app and checks the exact typed answers and errors.
func TestClientAgainstServer(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true", "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms")
	ctx := t.Context()
	anon := client.New(e.url + "/") // a trailing slash is trimmed

	// Before setup the loopback server is open.
	st, err := anon.Status(ctx)
	if err != nil || !cmp.Equal(st, httpapi.AuthStatusResponse{Mode: "open", SetupRequired: true, RegistrationEnabled: true, OAuthProviders: []httpapi.OAuthProviderResponse{}}) {
		t.Fatalf("status before setup = %+v, %v", st, err)
	}
	if ss, err := anon.SetupStatus(ctx); err != nil || ss.IsSetup {
		t.Fatalf("setup status = %+v, %v", ss, err)
	}
	_, err = anon.Setup(ctx, httpapi.SetupRequest{Email: "admin@example.com", Password: "short"})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "weak_password", Param: "body.password", Status: 400})
	admUser, err := anon.Setup(ctx, httpapi.SetupRequest{Email: "admin@example.com", Password: adminPassword, DisplayName: "Admin"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(httpapi.UserResponse{ID: admUser.ID, Email: "admin@example.com", DisplayName: "Admin", Role: "admin", Active: true}, admUser, ignoreTimes); diff != "" || admUser.CreatedAt.IsZero() {
		t.Fatalf("setup user (-want +got):\n%s", diff)
	}
	_, err = anon.Setup(ctx, httpapi.SetupRequest{Email: "x@example.com", Password: adminPassword})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindConflict, Code: "already_set_up", Status: 409})
	if st, err := anon.Status(ctx); err != nil || st.Mode != "required" || st.SetupRequired {
		t.Fatalf("status after setup = %+v, %v", st, err)
	}

	// Login, me, wrong credentials.
	_, err = anon.Me(ctx)
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindUnauthenticated, Code: "missing_authorization", Status: 401})
	_, err = anon.Login(ctx, "admin@example.com", "wrong password")
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindUnauthenticated, Code: "invalid_credentials", Status: 401})
	lr, err := anon.Login(ctx, "admin@example.com", adminPassword)
	if err != nil || lr.TokenType != "bearer" || lr.ExpiresIn != 86400 || strings.Count(lr.AccessToken, ".") != 2 || lr.User.ID != admUser.ID {
		t.Fatalf("login = %+v, %v", lr, err)
	}
	admin := anon.WithToken(lr.AccessToken)
	if anon.Token() != "" || admin.Token() != lr.AccessToken || admin.BaseURL() != e.url {
		t.Fatal("WithToken changed the original client or lost the base URL")
	}
	me, err := admin.Me(ctx)
	if diff := cmp.Diff(httpapi.MeResponse{ID: admUser.ID, Email: "admin@example.com", DisplayName: "Admin", Role: "admin", Active: ptr(true)}, me); err != nil || diff != "" {
		t.Fatalf("me (-want +got):\n%s %v", diff, err)
	}

	// Registration logs the new user in.
	reg, err := anon.Register(ctx, httpapi.RegisterRequest{Email: "reg@example.com", Password: "a good password", DisplayName: "Reg"})
	if err != nil || reg.User.Role != "contributor" || reg.User.Email != "reg@example.com" || reg.AccessToken == "" {
		t.Fatalf("register = %+v, %v", reg, err)
	}
	_, err = anon.Register(ctx, httpapi.RegisterRequest{Email: "REG@example.com", Password: "a good password"})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindConflict, Code: "email_taken", Status: 409})

	// Admin users.
	con, err := admin.CreateUser(ctx, httpapi.CreateUserRequest{Email: "con@example.com", Password: adminPassword, DisplayName: "Con", Role: "contributor"})
	if err != nil || con.Role != "contributor" || !con.Active || con.DisplayName != "Con" {
		t.Fatalf("create user = %+v, %v", con, err)
	}
	_, err = admin.CreateUser(ctx, httpapi.CreateUserRequest{Email: "v@example.com", Password: adminPassword, Role: "owner"})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.role", Status: 400})
	page, err := admin.ListUsers(ctx, client.ListOptions{Limit: 2})
	if err != nil || len(page.Data) != 2 || page.NextCursor == nil {
		t.Fatalf("users page 1 = %+v, %v", page, err)
	}
	rest, err := admin.ListUsers(ctx, client.ListOptions{Limit: 2, Cursor: *page.NextCursor})
	if err != nil || len(rest.Data) != 1 || rest.NextCursor != nil {
		t.Fatalf("users page 2 = %+v, %v", rest, err)
	}
	upd, err := admin.UpdateUser(ctx, con.ID, httpapi.PatchUserRequest{DisplayName: ptr("Connie"), Password: ptr(gateway.Secret("another good one"))})
	if err != nil || upd.DisplayName != "Connie" || upd.ID != con.ID {
		t.Fatalf("update user = %+v, %v", upd, err)
	}
	_, err = admin.UpdateUser(ctx, admUser.ID, httpapi.PatchUserRequest{Role: ptr("viewer")})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindConflict, Code: "last_admin", Status: 409})
	conLogin, err := anon.Login(ctx, "con@example.com", "another good one") // the new password works
	if err != nil {
		t.Fatal(err)
	}
	conC := anon.WithToken(conLogin.AccessToken)
	_, err = conC.ListUsers(ctx, client.ListOptions{})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role", Message: "Requires admin role", Status: 403})

	// Keys: create, list, rotate, exchange, revoke; admin views.
	k, err := conC.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "ci", ExpiresInSeconds: ptr(int64(3600))})
	if err != nil || !strings.HasPrefix(k.Key, "tg_") || len(k.Key) != 46 || k.Prefix != k.Key[3:11] || k.OwnerID != con.ID ||
		k.Role != "contributor" || k.ExpiresAt == nil || k.RevokedAt != nil || k.Name != "ci" {
		t.Fatalf("create key = %+v, %v", k, err)
	}
	_, err = conC.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "too high", Role: ptr("admin")})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.role", Status: 400})
	keys, err := conC.ListKeys(ctx, client.ListOptions{})
	if err != nil || len(keys.Data) != 1 || keys.Data[0].ID != k.ID || keys.Data[0].Key != "" || keys.NextCursor != nil {
		t.Fatalf("list keys = %+v, %v", keys, err)
	}
	keyC := anon.WithToken(k.Key)
	kme, err := keyC.Me(ctx)
	if want := (httpapi.MeResponse{ID: con.ID, Email: "con@example.com", DisplayName: "Connie", Role: "contributor", Active: ptr(true),
		Key: &httpapi.MeKey{ID: k.ID, Name: "ci", Prefix: k.Prefix, Role: "contributor"}}); err != nil || !cmp.Equal(kme, want) {
		t.Fatalf("me with the key = %+v, %v", kme, err)
	}
	tok, err := keyC.ExchangeToken(ctx)
	if err != nil || tok.TokenType != "bearer" || tok.ExpiresIn != 3600 || tok.AccessToken == "" {
		t.Fatalf("exchange = %+v, %v", tok, err)
	}
	if xme, err := anon.WithToken(tok.AccessToken).Me(ctx); err != nil || xme.Key == nil || xme.Key.ID != k.ID {
		t.Fatalf("me with the exchanged JWT = %+v, %v", xme, err)
	}
	rot, err := conC.RotateKey(ctx, k.ID, httpapi.RotateKeyRequest{})
	if err != nil || rot.ID != k.ID || rot.Key == k.Key || rot.Prefix != rot.Key[3:11] {
		t.Fatalf("rotate = %+v, %v", rot, err)
	}
	_, err = keyC.Me(ctx) // no grace: the old secret is rejected at once
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindUnauthenticated, Code: "invalid_authorization", Status: 401})
	_, err = conC.RotateKey(ctx, k.ID, httpapi.RotateKeyRequest{GraceSeconds: -1})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.grace_seconds", Status: 400})
	all, err := admin.AdminListKeys(ctx, con.ID, client.ListOptions{Limit: 10})
	if err != nil || len(all.Data) != 1 || all.Data[0].ID != k.ID {
		t.Fatalf("admin list keys of con = %+v, %v", all, err)
	}
	if none, err := admin.AdminListKeys(ctx, admUser.ID, client.ListOptions{}); err != nil || len(none.Data) != 0 {
		t.Fatalf("admin list keys of admin = %+v, %v", none, err)
	}
	wantAPIError(t, admin.RevokeKey(ctx, k.ID), gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Status: 404})
	k2, err := conC.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if err := conC.RevokeKey(ctx, k.ID); err != nil {
		t.Fatalf("revoke own key: %v", err)
	}
	if err := admin.AdminRevokeKey(ctx, k2.ID); err != nil {
		t.Fatalf("admin revoke: %v", err)
	}
	_, err = anon.WithToken(k2.Key).Me(ctx)
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindUnauthenticated, Code: "invalid_authorization", Status: 401})

	// Models and info.
	models, err := conC.Models(ctx)
	if want := (httpapi.ModelList{Object: "list", Data: []httpapi.ModelObject{{ID: "echo", Object: "model", OwnedBy: "echo"}}}); err != nil || !cmp.Equal(models, want) {
		t.Fatalf("models = %+v, %v", models, err)
	}
	info, err := conC.Info(ctx)
	if err != nil || info.Version != version || !cmp.Equal(info.Models, []proxy.ModelInfo{{ID: "echo", Provider: "echo", UpstreamModel: "echo"}}) {
		t.Fatalf("info = %+v, %v", info, err)
	}
	if err := anon.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if doc, err := anon.OpenAPI(ctx); err != nil || !strings.Contains(string(doc), `"openapi"`) {
		t.Fatalf("openapi: %v", err)
	}

	// Conversations and messages.
	conv, err := conC.CreateConversation(ctx, httpapi.ConversationRequest{Title: ptr("first"), SystemPrompt: ptr("be brief")})
	if diff := cmp.Diff(httpapi.ConversationObject{ID: conv.ID, Title: "first", SystemPrompt: "be brief", Role: "owner", UnreadCount: ptr(int64(0))}, conv, ignoreTimes); err != nil || diff != "" || !strings.HasPrefix(conv.ID, "conv_") {
		t.Fatalf("create conversation (-want +got):\n%s %v", diff, err)
	}
	_, err = conC.CreateConversation(ctx, httpapi.ConversationRequest{Model: ptr("nope")})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model", Message: `The model "nope" does not exist.`, Status: 404})
	if got, err := conC.Conversation(ctx, conv.ID); err != nil || got.ID != conv.ID || got.Title != "first" {
		t.Fatalf("get conversation = %+v, %v", got, err)
	}
	_, err = admin.Conversation(ctx, conv.ID) // another user's: as if it did not exist
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "conversation_not_found", Message: "Conversation not found.", Status: 404})
	if got, err := conC.UpdateConversation(ctx, conv.ID, httpapi.ConversationRequest{Title: ptr("renamed"), Model: ptr("echo")}); err != nil || got.Title != "renamed" || got.Model != "echo" {
		t.Fatalf("update conversation = %+v, %v", got, err)
	}
	post, err := conC.PostMessage(ctx, conv.ID, httpapi.PostMessageRequest{Content: ptr("one two three"), Stream: true}) // Stream is ignored
	if err != nil {
		t.Fatal(err)
	}
	wantUser := httpapi.MessageObject{ID: post.UserMessage.ID, ConversationID: conv.ID, Role: "user", Content: "one two three", Status: "complete",
		Author: &httpapi.MessageAuthor{UserID: con.ID, DisplayName: "Connie"}}
	if diff := cmp.Diff(wantUser, post.UserMessage, ignoreTimes); diff != "" {
		t.Fatalf("user message (-want +got):\n%s", diff)
	}
	wantAsst := httpapi.MessageObject{ID: post.AssistantMessage.ID, ConversationID: conv.ID, ParentID: &post.UserMessage.ID, Role: "assistant",
		Content: "one two three", Model: ptr("echo"), Status: "complete", Usage: &httpapi.MessageUsage{PromptTokens: 5, CompletionTokens: 3, TotalTokens: 8}}
	if diff := cmp.Diff(wantAsst, post.AssistantMessage, ignoreTimes); diff != "" {
		t.Fatalf("assistant message (-want +got):\n%s", diff)
	}
	_, err = conC.PostMessage(ctx, conv.ID, httpapi.PostMessageRequest{Content: ptr("  ")})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.content", Message: "content must not be empty", Status: 400})

	// The streamed post: created (user), created (assistant), deltas, done.
	var types, deltas []string
	var created []httpapi.MessageObject
	var done *httpapi.MessageObject
	for ev, err := range conC.StreamMessage(ctx, conv.ID, httpapi.PostMessageRequest{Content: ptr("four five"), ParentID: &post.AssistantMessage.ID}) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		types = append(types, ev.Type)
		switch ev.Type {
		case client.EventMessageCreated:
			created = append(created, *ev.Message)
		case client.EventMessageDelta:
			if ev.Delta.MessageID != created[1].ID {
				t.Fatalf("delta for %s, want %s", ev.Delta.MessageID, created[1].ID)
			}
			deltas = append(deltas, ev.Delta.Delta)
		case client.EventMessageDone:
			done = ev.Message
		}
	}
	types = slices.Compact(types)
	if !slices.Equal(types, []string{"message.created", "message.delta", "message.done"}) || len(created) != 2 || done == nil {
		t.Fatalf("stream events = %v", types)
	}
	if created[0].Role != "user" || *created[0].ParentID != post.AssistantMessage.ID || created[1].Status != "pending" || *created[1].ParentID != created[0].ID {
		t.Fatalf("created = %+v", created)
	}
	if strings.Join(deltas, "") != "four five" || done.ID != created[1].ID || done.Content != "four five" || done.Status != "complete" || done.Usage.CompletionTokens != 2 {
		t.Fatalf("deltas %q, done %+v", deltas, done)
	}
	n := 0
	for _, err := range conC.StreamMessage(ctx, "conv_nope", httpapi.PostMessageRequest{Content: ptr("x")}) {
		n++
		wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "conversation_not_found", Status: 404})
	}
	if n != 1 {
		t.Fatalf("stream to an unknown conversation yielded %d items, want 1 error", n)
	}
	msgs, err := conC.Messages(ctx, conv.ID)
	if err != nil || len(msgs.Data) != 4 || msgs.Data[3].ID != done.ID {
		t.Fatalf("messages = %+v, %v", msgs, err)
	}
	edited, err := conC.EditMessage(ctx, post.UserMessage.ID, "one two three four")
	if err != nil || edited.Content != "one two three four" || edited.EditedAt == nil {
		t.Fatalf("edit = %+v, %v", edited, err)
	}
	if err := conC.DeleteMessage(ctx, post.UserMessage.ID); err != nil {
		t.Fatal(err)
	}
	if msgs, err := conC.Messages(ctx, conv.ID); err != nil || msgs.Data[0].DeletedAt == nil || msgs.Data[0].Content != "" {
		t.Fatalf("after delete = %+v, %v", msgs.Data[0], err)
	}
	restored, err := conC.RestoreMessage(ctx, post.UserMessage.ID)
	if err != nil || restored.DeletedAt != nil || restored.Content != "one two three four" {
		t.Fatalf("restore = %+v, %v", restored, err)
	}
	_, err = admin.EditMessage(ctx, post.UserMessage.ID, "mine now")
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "message_not_found", Message: "Message not found.", Status: 404})
	hits, err := conC.Search(ctx, "five", 5)
	if err != nil || len(hits.Data) != 2 || hits.Data[0].ConversationID != conv.ID {
		t.Fatalf("search = %+v, %v", hits, err)
	}
	_, err = conC.Search(ctx, " ", 0)
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "missing_field", Param: "query.q", Message: "q is required", Status: 400})
	list, err := conC.ListConversations(ctx, client.ListOptions{Limit: 1})
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != conv.ID || list.NextCursor != nil {
		t.Fatalf("list conversations = %+v, %v", list, err)
	}
	_, err = conC.ListConversations(ctx, client.ListOptions{Limit: 500})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "query.limit", Status: 400})
	if err := conC.DeleteConversation(ctx, conv.ID); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, conC.DeleteConversation(ctx, conv.ID), gateway.Error{Kind: gateway.KindNotFound, Code: "conversation_not_found", Status: 404})

	// Usage, polled while the writer flushes in the background.
	var usage httpapi.UsageResponse
	for range 200 {
		if usage, err = conC.Usage(ctx, client.UsageQuery{GroupBy: gateway.UsageByModel}); err != nil {
			t.Fatal(err)
		}
		if len(usage.Data) == 1 && usage.Data[0].Requests == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want := []gateway.UsageGroup{{Group: "echo", Requests: 2, PromptTokens: 5 + 10, CompletionTokens: 3 + 2, Statuses: gateway.UsageStatuses{OK: 2}}}; !cmp.Equal(usage.Data, want) {
		t.Fatalf("usage = %+v, want %+v", usage.Data, want)
	}
	byUser, err := admin.AdminUsage(ctx, client.UsageQuery{GroupBy: gateway.UsageByUser, From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || len(byUser.Data) != 1 || byUser.Data[0].Group != con.ID {
		t.Fatalf("admin usage by user = %+v, %v", byUser, err)
	}
	_, err = conC.Usage(ctx, client.UsageQuery{GroupBy: gateway.UsageByUser})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "query.group_by", Status: 400})

	// Rate limits.
	pol, err := admin.CreatePolicy(ctx, httpapi.PolicyBody{Name: "tight", RequestsPerMinute: 60, Burst: 3})
	if diff := cmp.Diff(gateway.RateLimitPolicy{ID: pol.ID, Name: "tight", RequestsPerMinute: 60, Burst: 3}, pol, ignoreTimes); err != nil || diff != "" || pol.ID == "" {
		t.Fatalf("create policy (-want +got):\n%s %v", diff, err)
	}
	_, err = admin.CreatePolicy(ctx, httpapi.PolicyBody{Name: "tight", RequestsPerMinute: 60, Burst: 2})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.name", Message: "a policy with this name exists", Status: 400})
	pol2, err := admin.UpdatePolicy(ctx, pol.ID, httpapi.PolicyBody{Name: "tight", RequestsPerMinute: 120, Burst: 4, TokensPerMinute: 1000})
	if err != nil || pol2.ID != pol.ID || pol2.RequestsPerMinute != 120 || pol2.TokensPerMinute != 1000 {
		t.Fatalf("update policy = %+v, %v", pol2, err)
	}
	asg, err := admin.CreateAssignment(ctx, httpapi.AssignmentBody{PolicyID: pol.ID, SubjectType: "user", Subject: reg.User.ID})
	if diff := cmp.Diff(gateway.RateLimitAssignment{ID: asg.ID, PolicyID: pol.ID, SubjectType: "user", Subject: reg.User.ID}, asg, ignoreTimes); err != nil || diff != "" {
		t.Fatalf("create assignment (-want +got):\n%s %v", diff, err)
	}
	_, err = admin.CreateAssignment(ctx, httpapi.AssignmentBody{PolicyID: "nope", SubjectType: "role", Subject: "admin"})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.policy_id", Status: 400})
	if ps, err := admin.ListPolicies(ctx); err != nil || len(ps.Data) != 1 || ps.Data[0].ID != pol.ID || ps.NextCursor != nil {
		t.Fatalf("list policies = %+v, %v", ps, err)
	}
	if as, err := admin.ListAssignments(ctx); err != nil || len(as.Data) != 1 || as.Data[0].ID != asg.ID {
		t.Fatalf("list assignments = %+v, %v", as, err)
	}
	if err := admin.DeleteAssignment(ctx, asg.ID); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeletePolicy(ctx, pol.ID); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, admin.DeletePolicy(ctx, pol.ID), gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Status: 404})

	// Logout revokes the JWT.
	if err := conC.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = conC.Me(ctx)
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindUnauthenticated, Code: "invalid_authorization", Status: 401})
}

// TestClientAppCredential: an app key acts for the end user named by
// WithEndUser; without it, a user-scoped route is 400 missing_field.
func TestClientAppCredential(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ctx := t.Context()
	admin := client.New(e.url).WithToken(e.setup())
	app, err := admin.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "app", EndUserMode: true, Role: ptr("contributor")})
	if err != nil {
		t.Fatal(err)
	}
	appC := client.New(e.url).WithToken(app.Key)
	_, err = appC.CreateConversation(ctx, httpapi.ConversationRequest{})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "missing_field", Param: "headers.x-end-user-id", Status: 400})
	alice, bob := appC.WithEndUser("alice"), appC.WithEndUser("bob")
	c, err := alice.CreateConversation(ctx, httpapi.ConversationRequest{Title: ptr("a")})
	if err != nil || c.EndUserID == nil || *c.EndUserID != "alice" {
		t.Fatalf("alice's conversation = %+v, %v", c, err)
	}
	_, err = bob.Conversation(ctx, c.ID)
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "conversation_not_found", Status: 404})
	if me, err := alice.Me(ctx); err != nil || me.EndUserID != "alice" || me.Key == nil || me.Key.ID != app.ID {
		t.Fatalf("me as alice = %+v, %v", me, err)
	}
	_, err = alice.ListKeys(ctx, client.ListOptions{})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role", Status: 403})
}

// TestClientErrors: envelope errors keep the status, Retry-After and the
// Kind of the status; a body that is not an envelope still gives a
// *gateway.Error with the status's Kind.
func TestClientErrors(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=1")
	ctx := t.Context()
	c := client.New(e.url)
	if _, err := c.Login(ctx, "nobody@example.com", "wrong password"); !client.IsCode(err, "invalid_credentials") {
		t.Fatalf("first login = %v", err)
	}
	_, err := c.Login(ctx, "nobody@example.com", "wrong password")
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Kind != gateway.KindRateLimited || ge.Code != "rate_limit_exceeded" || ge.Status != 429 || ge.RetryAfter < 1 {
		t.Fatalf("second login = %+v", err)
	}
	_, err = client.New(e.url + "/api/nope").Me(ctx) // the router's own 404 envelope
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Status: 404})

	plain := newPlainServer(t, http.StatusBadGateway, "text/plain", "bad gateway\n")
	_, err = client.New(plain).Me(ctx)
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindUpstream, Message: "bad gateway", Status: 502})
	if got := client.KindOf(404, gateway.KindUpstream); got != gateway.KindUpstream {
		t.Fatalf("an upstream's own 404 = kind %v, want KindUpstream", got)
	}
}
