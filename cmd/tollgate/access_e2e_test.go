package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// gptConfig serves gpt-4o, gpt-4-mini and gpt-3.5 from one llmtest upstream.
func gptConfig(url string) string {
	return `
[[providers]]
name = "up"
type = "openai"
base_url = "` + url + `"

[[models]]
name = "gpt-4o"
provider = "up"

[[models]]
name = "gpt-4-mini"
provider = "up"

[[models]]
name = "gpt-3.5"
provider = "up"
`
}

// postChat sends a chat completion for model with token and returns the
// status and the error code ("" on success).
func postChat(t *testing.T, base, token, model string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if i := strings.Index(string(b), `"code":"`); i >= 0 && resp.StatusCode != 200 {
		code = strings.SplitN(string(b)[i+8:], `"`, 2)[0]
	}
	return resp.StatusCode, code
}

func modelIDs(t *testing.T, c *client.Client) []string {
	t.Helper()
	l, err := c.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range l.Data {
		ids = append(ids, m.ID)
	}
	return ids
}

// TestAllowedModelsAPI: allowed_models set through POST/PATCH /api/keys
// and PATCH /api/admin/users/{id}; the effective list is the intersection
// of the key's and its owner's; /v1/models follows it; a bad pattern is
// 400 invalid_field.
func TestAllowedModelsAPI(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"ok"}})
	logs := &syncBuffer{}
	e := startAuthEnv(t, testConfigTOML(t, gptConfig(up.URL)), slog.New(slog.DiscardHandler), logs, testDeps(nil))
	ctx := t.Context()
	anon := client.New(e.url)
	if _, err := anon.Setup(ctx, httpapi.SetupRequest{Email: "admin@example.com", Password: adminPassword}); err != nil {
		t.Fatal(err)
	}
	lr, err := anon.Login(ctx, "admin@example.com", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	admin := anon.WithToken(lr.AccessToken)
	bob, err := admin.CreateUser(ctx, httpapi.CreateUserRequest{Email: "bob@example.com", Password: adminPassword, Role: "contributor"})
	if err != nil {
		t.Fatal(err)
	}
	ub, err := admin.UpdateUser(ctx, bob.ID, httpapi.PatchUserRequest{AllowedModels: &[]string{"gpt-4o", "gpt-3.5"}, MaxParallel: ptr(4)})
	if err != nil || !cmp.Equal(ub.AllowedModels, []string{"gpt-4o", "gpt-3.5"}) || ub.MaxParallel != 4 {
		t.Fatalf("PATCH user = %+v, %v", ub, err)
	}
	_, err = admin.UpdateUser(ctx, bob.ID, httpapi.PatchUserRequest{AllowedModels: &[]string{"gpt*4"}})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.allowed_models", Status: 400})

	blr, err := anon.Login(ctx, "bob@example.com", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	bobc := anon.WithToken(blr.AccessToken)
	if diff := cmp.Diff([]string{"gpt-4o", "gpt-3.5"}, modelIDs(t, bobc)); diff != "" {
		t.Fatalf("bob's /v1/models (-want +got):\n%s", diff)
	}
	_, err = bobc.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "bad", AllowedModels: []string{""}})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.allowed_models", Status: 400})
	_, err = bobc.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "bad", MaxParallel: -1})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "body.max_parallel", Status: 400})
	key, err := bobc.CreateKey(ctx, httpapi.CreateKeyRequest{Name: "gpt4", AllowedModels: []string{"gpt-4*"}, MaxParallel: 2})
	if err != nil || !cmp.Equal(key.AllowedModels, []string{"gpt-4*"}) || key.MaxParallel != 2 {
		t.Fatalf("create key = %+v, %v", key, err)
	}
	keyc := anon.WithToken(key.Key)
	// Key gpt-4* ∩ owner {gpt-4o, gpt-3.5} = {gpt-4o}.
	if diff := cmp.Diff([]string{"gpt-4o"}, modelIDs(t, keyc)); diff != "" {
		t.Fatalf("key's /v1/models (-want +got):\n%s", diff)
	}
	for model, want := range map[string]int{"gpt-4o": 200, "gpt-4-mini": 403, "gpt-3.5": 403} {
		status, code := postChat(t, e.url, key.Key, model)
		if status != want || (want == 403 && code != "model_not_allowed") {
			t.Errorf("chat %s = %d %s, want %d", model, status, code, want)
		}
	}
	// Conversation posts check the model before storing anything.
	conv, err := keyc.CreateConversation(ctx, httpapi.ConversationRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = keyc.PostMessage(ctx, conv.ID, httpapi.PostMessageRequest{Content: ptr("hi"), Model: ptr("gpt-3.5")})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindPermission, Code: "model_not_allowed", Param: "body.model", Status: 403})
	if msgs, err := keyc.Messages(ctx, conv.ID); err != nil || len(msgs.Data) != 0 {
		t.Fatalf("messages after refusal = %+v, %v; want none", msgs.Data, err)
	}
	if _, err := keyc.PostMessage(ctx, conv.ID, httpapi.PostMessageRequest{Content: ptr("hi"), Model: ptr("gpt-4o")}); err != nil {
		t.Fatalf("post gpt-4o: %v", err)
	}
	// Clearing the key's list leaves the owner's.
	pk, err := bobc.UpdateKey(ctx, key.ID, httpapi.PatchKeyRequest{AllowedModels: &[]string{}})
	if err != nil || pk.AllowedModels != nil || pk.MaxParallel != 2 || pk.Name != "gpt4" {
		t.Fatalf("PATCH key = %+v, %v", pk, err)
	}
	if diff := cmp.Diff([]string{"gpt-4o", "gpt-3.5"}, modelIDs(t, keyc)); diff != "" {
		t.Fatalf("key's /v1/models after PATCH (-want +got):\n%s", diff)
	}
	if status, _ := postChat(t, e.url, key.Key, "gpt-3.5"); status != 200 {
		t.Fatalf("chat gpt-3.5 after PATCH = %d, want 200", status)
	}
	// Another user's key is 404 on the owner route.
	_, err = admin.UpdateKey(ctx, key.ID, httpapi.PatchKeyRequest{Name: ptr("x")})
	wantAPIError(t, err, gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Status: 404})
}
