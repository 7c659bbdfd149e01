package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// users is a conversation.Users of fixed users.
type users map[string]gateway.User

func (u users) User(_ context.Context, id string) (gateway.User, error) {
	if v, ok := u[id]; ok {
		return v, nil
	}
	return gateway.User{}, gateway.ErrNotFound
}

func (u users) UserByEmail(_ context.Context, email string) (gateway.User, error) {
	for _, v := range u {
		if strings.EqualFold(v.Email, email) {
			return v, nil
		}
	}
	return gateway.User{}, gateway.ErrNotFound
}

// TestShareLink: the public route shows the current branch (title,
// messages, the owner's display name; no email, ids or participants), a
// new link replaces the old one, revoke ends it, guessed tokens are 404,
// only the owner shares, and tokens stay out of the logs.
func TestShareLink(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
		logs := &syncBuffer{}
		dir := users{
			"alice": {ID: "alice", Email: "alice@example.com", DisplayName: "Alice A.", Active: true},
			"wendy": {ID: "wendy", Email: "wendy@example.com", DisplayName: "Wendy W.", Active: true},
		}
		e := newConvEnv(t, envOpt{db: db, log: logs, users: dir})
		c := e.createConv(t, alice, `{"title":"Trip"}`)
		first := e.post(t, alice, c.ID, `{"content":"first question"}`)
		e.post(t, alice, c.ID, `{"content":"old branch"}`)
		e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/participants", `{"email":"wendy@example.com","role":"writer"}`, 201, nil)
		// The current branch forks from the first answer.
		e.post(t, writerU, c.ID, `{"content":"new branch","parent_id":"`+first.AssistantMessage.ID+`"}`)

		for _, who := range []as{writerU, readerU, strangeU, endU1} {
			resp, b := e.call(t, who, "POST", "/api/conversations/"+c.ID+"/share", "")
			wantErr(t, resp, b, 404, "not_found_error", "conversation_not_found", "")
		}
		resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/share", "")
		if resp.StatusCode != 201 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("share: %d %s", resp.StatusCode, b)
		}
		wantKeys(t, b, []string{"token", "url"})
		var link struct{ Token, URL string }
		_ = json.Unmarshal(b, &link)
		if !strings.HasPrefix(link.Token, "tgs_") || link.URL != "/share/"+link.Token {
			t.Fatalf("link = %+v", link)
		}

		resp, b = e.call(t, as{}, "GET", "/api/share/"+link.Token, "")
		if resp.StatusCode != 200 {
			t.Fatalf("public read: %d %s", resp.StatusCode, b)
		}
		wantKeys(t, b, []string{"messages", "owner_display_name", "title"})
		var sh struct {
			Title            string            `json:"title"`
			OwnerDisplayName string            `json:"owner_display_name"`
			Messages         []json.RawMessage `json:"messages"`
		}
		_ = json.Unmarshal(b, &sh)
		if sh.Title != "Trip" || sh.OwnerDisplayName != "Alice A." || len(sh.Messages) != 4 {
			t.Fatalf("shared = %s", b)
		}
		var texts []string
		for _, m := range sh.Messages {
			wantKeys(t, m, []string{"content", "created_at", "role"})
			var v struct{ Content string }
			_ = json.Unmarshal(m, &v)
			texts = append(texts, v.Content)
		}
		if got := strings.Join(texts, "|"); got != "first question|first question|new branch|new branch" {
			t.Fatalf("branch = %q", got)
		}
		for _, leak := range []string{"@example.com", "wendy", "Wendy", "old branch", "alice", c.ID} {
			if strings.Contains(string(b), leak) {
				t.Fatalf("the share shows %q: %s", leak, b)
			}
		}

		// A new link replaces the old one; revoke ends it; guesses are 404.
		var link2 struct{ Token string }
		e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/share", "", 201, &link2)
		for _, tok := range []string{link.Token, "tgs_" + strings.Repeat("a", 52), "nope"} {
			resp, b = e.call(t, as{}, "GET", "/api/share/"+tok, "")
			wantErr(t, resp, b, 404, "not_found_error", "not_found", "")
		}
		e.callJSON(t, as{}, "GET", "/api/share/"+link2.Token, "", 200, nil)
		resp, b = e.call(t, writerU, "DELETE", "/api/conversations/"+c.ID+"/share", "")
		wantErr(t, resp, b, 404, "not_found_error", "conversation_not_found", "")
		e.callJSON(t, alice, "DELETE", "/api/conversations/"+c.ID+"/share", "", 204, nil)
		resp, b = e.call(t, as{}, "GET", "/api/share/"+link2.Token, "")
		wantErr(t, resp, b, 404, "not_found_error", "not_found", "")
		resp, b = e.call(t, alice, "DELETE", "/api/conversations/"+c.ID+"/share", "")
		wantErr(t, resp, b, 404, "not_found_error", "not_found", "")

		out := logs.String()
		if !strings.Contains(out, "/api/share/") {
			t.Fatalf("the access log was not captured")
		}
		for _, tok := range []string{link.Token, link2.Token} {
			if strings.Contains(out, tok[4:]) {
				t.Fatalf("a share token is in the log:\n%s", out)
			}
		}
	})
}
