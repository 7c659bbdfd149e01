package main

import (
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// TestAppCredentialCannotEscapeItsEndUser is the regression of security
// review issue 11 (A): an admin app key acting for end user u1 minted an
// unscoped admin key, read its owner's conversations and managed its
// owner's keys. Now every step is refused, with the key itself and with a
// JWT exchanged for it.
func TestAppCredentialCannotEscapeItsEndUser(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	conv := e.do("POST", "/api/conversations", e.adminTok, map[string]any{"title": "owner's private notes"})
	wantStatus(t, conv, http.StatusCreated)
	convID := conv.body["id"].(string)
	personal := e.createKey(e.adminTok, httpapi.CreateKeyRequest{Name: "personal"})
	personalID, personalKey := personal.ID, personal.Key
	app := e.createKey(e.adminTok, httpapi.CreateKeyRequest{Name: "app", EndUserMode: true})
	appKey := app.Key
	x := e.do("POST", "/api/auth/token", appKey, nil)
	wantStatus(t, x, http.StatusOK)
	exchanged := x.body["access_token"].(string)
	u1 := []string{"X-End-User-Id", "u1"}

	for _, c := range []struct{ name, cred string }{{"Key", appKey}, {"ExchangedJWT", exchanged}} {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/keys", c.cred, map[string]any{"name": "x"}, u1...), 403, "insufficient_role", "")
			wantError(t, e.do("POST", "/api/keys", c.cred, map[string]any{"name": "x"}), 403, "insufficient_role", "")
			wantError(t, e.do("GET", "/api/keys", c.cred, nil, u1...), 403, "insufficient_role", "")
			wantError(t, e.do("DELETE", "/api/keys/"+personalID, c.cred, nil, u1...), 403, "insufficient_role", "")
			wantError(t, e.do("POST", "/api/keys/"+personalID+"/rotate", c.cred, nil, u1...), 403, "insufficient_role", "")
			wantError(t, e.do("GET", "/api/admin/keys", c.cred, nil), 403, "insufficient_role", "")
			wantCode(t, e.client(c.cred).AdminRevokeKey(t.Context(), personalID), 403, "insufficient_role", "")
			wantCode(t, errOf(e.client(c.cred).ListUsers(t.Context(), client.ListOptions{})), 403, "insufficient_role", "")
			wantError(t, e.do("POST", "/api/auth/logout", c.cred, nil, u1...), 403, "insufficient_role", "")

			// The owner's own conversation is not the end user's, nor part of
			// the tenant-wide view of the owner's end users.
			wantError(t, e.do("GET", "/api/conversations/"+convID, c.cred, nil, u1...), 404, "conversation_not_found", "")
			wantError(t, e.do("GET", "/api/conversations/"+convID+"/messages", c.cred, nil, u1...), 404, "conversation_not_found", "")
			wantError(t, e.do("GET", "/api/conversations/"+convID, c.cred, nil), 404, "conversation_not_found", "")
			for _, hdr := range [][]string{u1, nil} {
				list := e.do("GET", "/api/conversations", c.cred, nil, hdr...)
				wantStatus(t, list, http.StatusOK)
				for _, item := range list.body["data"].([]any) {
					if item.(map[string]any)["id"] == convID {
						t.Fatalf("the app credential lists its owner's conversation: %s", list.raw)
					}
				}
			}
		})
	}
	// Nothing changed: the personal key works, the owner's login works and
	// sees the conversation, the owner has exactly its two keys.
	wantNil(t, errOf(e.client(personalKey).Me(t.Context())))
	wantStatus(t, e.do("GET", "/api/conversations/"+convID, e.adminTok, nil), http.StatusOK)
	keys := e.do("GET", "/api/keys", e.adminTok, nil)
	wantStatus(t, keys, http.StatusOK)
	if n := len(keys.body["data"].([]any)); n != 2 {
		t.Fatalf("owner has %d keys, want 2 (personal, app): %s", n, keys.raw)
	}
}
