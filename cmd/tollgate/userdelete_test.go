package main

import (
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// TestAdminDeleteUser: DELETE /api/admin/users/{id} is a soft delete. The
// user's JWT, browser session and API keys stop working on the very next
// request, the keys show as revoked, the user stays listed as inactive
// with their data kept, and the last admin cannot be deleted.
func TestAdminDeleteUser(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	admin := e.setup()
	uid := e.createUser(admin, "gone@example.com", adminPassword, "contributor")
	jwt := e.login("gone@example.com", adminPassword)
	br, _ := e.sessionLogin("gone@example.com", adminPassword)
	k := &keyEnv{authEnv: e}
	key := k.createKey(jwt, httpapi.CreateKeyRequest{Name: "k"})
	conv := e.do("POST", "/api/conversations", jwt, map[string]string{"title": "kept"})
	wantStatus(t, conv, 201)
	for _, cred := range []string{jwt, key.Key} {
		wantStatus(t, e.do("GET", "/api/auth/me", cred, nil), 200)
	}

	wantStatus(t, e.do("DELETE", "/api/admin/users/"+uid, admin, nil), 204)

	for name, r := range map[string]reply{
		"jwt":     e.do("GET", "/api/auth/me", jwt, nil),
		"key":     e.do("GET", "/api/auth/me", key.Key, nil),
		"session": br.do("GET", "/api/auth/me", nil),
	} {
		if code, _, _ := r.err(); r.status != 401 || (code != "invalid_authorization" && code != "session_expired") {
			t.Fatalf("%s after delete = %d %s, want 401", name, r.status, code)
		}
	}
	users := e.do("GET", "/api/admin/users", admin, nil)
	wantStatus(t, users, 200)
	found := false
	for _, u := range users.body["data"].([]any) {
		m := u.(map[string]any)
		if m["id"] == uid {
			found = true
			if m["active"] != false {
				t.Fatalf("deleted user = %v, want active false", m)
			}
		}
	}
	if !found {
		t.Fatal("deleted user is no longer listed; a soft delete keeps it")
	}
	keys := e.do("GET", "/api/admin/keys?owner_id="+uid, admin, nil)
	wantStatus(t, keys, 200)
	if data := keys.body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["revoked_at"] == nil {
		t.Fatalf("keys of the deleted user = %v, want the one key revoked", data)
	}
	// The data is kept: reactivating the user shows the conversation again
	// (with a new login; the old credentials stay dead).
	wantStatus(t, e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]any{"active": true}), 200)
	again := e.login("gone@example.com", adminPassword)
	list := e.do("GET", "/api/conversations", again, nil)
	if data, _ := list.body["data"].([]any); list.status != 200 || len(data) != 1 {
		t.Fatalf("conversations after reactivation = %d %v, want the kept one", list.status, list.body)
	}
	wantError(t, e.do("GET", "/api/auth/me", jwt, nil), 401, "invalid_authorization", "")

	// Refusals.
	adminID := e.do("GET", "/api/auth/me", admin, nil).body["id"].(string)
	wantError(t, e.do("DELETE", "/api/admin/users/"+adminID, admin, nil), 409, "last_admin", "")
	wantError(t, e.do("DELETE", "/api/admin/users/"+missingID, admin, nil), 404, "not_found", "")
}
