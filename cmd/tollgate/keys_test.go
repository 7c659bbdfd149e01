package main

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// keyEnv is an authEnv with an admin, a contributor and a fake key clock.
type keyEnv struct {
	*authEnv
	clock            *testsvc.Clock
	adminTok, conTok string
	conID            string
}

func newKeyEnv(t *testing.T, environ ...string) *keyEnv {
	t.Helper()
	e := newAuthEnv(t, environ...)
	k := &keyEnv{authEnv: e, clock: testsvc.NewClock(time.Now())}
	e.app.keys.SetNow(k.clock.Now)
	k.adminTok = e.setup()
	k.conID = e.createUser(k.adminTok, "con@example.com", adminPassword, "contributor")
	k.conTok = e.login("con@example.com", adminPassword)
	return k
}

// createKey creates a key with tok through the client.
func (e *keyEnv) createKey(tok string, in httpapi.CreateKeyRequest) httpapi.KeyResponse {
	e.t.Helper()
	k, err := e.client(tok).CreateKey(e.t.Context(), in)
	if err != nil {
		e.t.Fatalf("create key %q: %v", in.Name, err)
	}
	return k
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAPIKeyCreateListShowsSecretOnce(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	// The wire shape is the point here, so this create stays raw HTTP.
	created := e.do("POST", "/api/keys", e.conTok, map[string]any{"name": "ci"})
	wantStatus(t, created, http.StatusCreated)
	k := created.body
	want := []string{"created_at", "end_user_mode", "expires_at", "id", "key", "last_used_at", "name", "owner_id", "prefix", "revoked_at", "role"}
	if got := keysOf(k); !reflect.DeepEqual(got, want) {
		t.Fatalf("create fields = %v, want %v", got, want)
	}
	secret := k["key"].(string)
	if !strings.HasPrefix(secret, "tg_") || len(secret) != 46 || k["prefix"] != secret[3:11] {
		t.Fatalf("key %d chars, prefix %v", len(secret), k["prefix"])
	}
	if k["name"] != "ci" || k["owner_id"] != e.conID || k["role"] != "contributor" || k["end_user_mode"] != false ||
		k["expires_at"] != nil || k["last_used_at"] != nil || k["revoked_at"] != nil {
		t.Fatalf("created key = %v", k)
	}
	list := e.do("GET", "/api/keys", e.conTok, nil)
	wantStatus(t, list, 200)
	data := list.body["data"].([]any)
	if len(data) != 1 || list.body["next_cursor"] != nil {
		t.Fatalf("list = %s", list.raw)
	}
	item := data[0].(map[string]any)
	if _, ok := item["key"]; ok || item["id"] != k["id"] || item["prefix"] != k["prefix"] {
		t.Fatalf("listed key = %v", item)
	}
	if strings.Contains(list.raw, secret) || strings.Contains(list.raw, secret[3:]) {
		t.Fatal("the list shows the secret")
	}
	// The admin sees every key, filtered by owner.
	e.createKey(e.adminTok, httpapi.CreateKeyRequest{Name: "admin's"})
	admin := e.client(e.adminTok)
	all, err := admin.AdminListKeys(t.Context(), "", client.ListOptions{})
	if err != nil || len(all.Data) != 2 {
		t.Fatalf("admin list = %+v, %v; want 2 keys", all, err)
	}
	mine, err := admin.AdminListKeys(t.Context(), e.conID, client.ListOptions{})
	if err != nil || len(mine.Data) != 1 || mine.Data[0].ID != k["id"] {
		t.Fatalf("admin list by owner = %+v, %v", mine, err)
	}
	wantCode(t, errOf(e.client(e.conTok).AdminListKeys(t.Context(), "", client.ListOptions{})), 403, "insufficient_role", "")
	page, err := admin.AdminListKeys(t.Context(), "", client.ListOptions{Limit: 1})
	if err != nil || page.NextCursor == nil || *page.NextCursor == "" || len(page.Data) != 1 {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	wantCode(t, errOf(e.client(e.conTok).ListKeys(t.Context(), client.ListOptions{Limit: 201})), 400, "invalid_field", "query.limit")
}

func TestAPIKeyValidation(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	for _, tc := range []struct {
		name        string
		body        any
		code, param string
	}{
		{"RoleAboveOwner", map[string]any{"name": "x", "role": "admin"}, "invalid_field", "body.role"},
		{"UnknownRole", map[string]any{"name": "x", "role": "root"}, "invalid_field", "body.role"},
		{"MissingName", map[string]any{"role": "viewer"}, "missing_field", "body.name"},
		{"BadExpiry", map[string]any{"name": "x", "expires_in_seconds": 0}, "invalid_field", "body.expires_in_seconds"},
		{"UnknownField", map[string]any{"name": "x", "owner_id": "someone"}, "invalid_field", "body.owner_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/keys", e.conTok, tc.body), 400, tc.code, tc.param)
		})
	}
	t.Run("ViewerCannotCreate", func(t *testing.T) {
		e.createUser(e.adminTok, "v@example.com", adminPassword, "viewer")
		v := e.login("v@example.com", adminPassword)
		wantError(t, e.do("POST", "/api/keys", v, map[string]any{"name": "x"}), 403, "insufficient_role", "")
	})
}

func TestAPIKeyRevoke(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "ci"})
	secret, id := k.Key, k.ID
	wantNil(t, errOf(e.client(secret).Me(t.Context())))
	// Another user's key is not found, exactly like a missing one.
	e.createUser(e.adminTok, "other@example.com", adminPassword, "contributor")
	other := e.login("other@example.com", adminPassword)
	wantCode(t, e.client(other).RevokeKey(t.Context(), id), 404, "not_found", "")
	wantCode(t, e.client(other).RevokeKey(t.Context(), "missing"), 404, "not_found", "")
	wantCode(t, errOf(e.client(other).RotateKey(t.Context(), id, httpapi.RotateKeyRequest{})), 404, "not_found", "")
	wantNil(t, errOf(e.client(secret).Me(t.Context())))

	r := e.do("DELETE", "/api/keys/"+id, e.conTok, nil)
	wantStatus(t, r, 204)
	if r.raw != "" {
		t.Fatalf("204 body = %q", r.raw)
	}
	wantCode(t, errOf(e.client(secret).Me(t.Context())), 401, "invalid_authorization", "")
	wantError(t, e.do("GET", "/api/auth/me", "", nil, "X-API-Key", secret), 401, "invalid_authorization", "")
	list, err := e.client(e.conTok).ListKeys(t.Context(), client.ListOptions{})
	if err != nil || len(list.Data) != 1 || list.Data[0].RevokedAt == nil {
		t.Fatalf("revoked_at not set: %+v, %v", list, err)
	}
	wantCode(t, errOf(e.client(e.conTok).RotateKey(t.Context(), id, httpapi.RotateKeyRequest{})), 404, "not_found", "")

	// The admin route revokes any key.
	k2 := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "second"})
	wantNil(t, errOf(e.client(k2.Key).Me(t.Context())))
	wantCode(t, e.client(e.conTok).AdminRevokeKey(t.Context(), k2.ID), 403, "insufficient_role", "")
	wantNil(t, e.client(e.adminTok).AdminRevokeKey(t.Context(), k2.ID))
	wantCode(t, errOf(e.client(k2.Key).Me(t.Context())), 401, "invalid_authorization", "")
	wantCode(t, e.client(e.adminTok).AdminRevokeKey(t.Context(), "missing"), 404, "not_found", "")
}

func TestAPIKeyExpiry(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "short", ExpiresInSeconds: ptr(int64(60))})
	if k.ExpiresAt == nil {
		t.Fatal("expires_at = null, want now+60s")
	}
	if exp := *k.ExpiresAt; exp.Sub(e.clock.Now()).Round(time.Second) != time.Minute {
		t.Fatalf("expires_at = %v, want now+60s", exp)
	}
	secret := k.Key
	e.clock.Advance(59 * time.Second)
	wantNil(t, errOf(e.client(secret).Me(t.Context())))
	e.clock.Advance(time.Second)
	wantCode(t, errOf(e.client(secret).Me(t.Context())), 401, "invalid_authorization", "")
}

func TestAPIKeyRotation(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	t.Run("WithGrace", func(t *testing.T) {
		k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "rot"})
		old := k.Key
		r, err := e.client(e.conTok).RotateKey(t.Context(), k.ID, httpapi.RotateKeyRequest{GraceSeconds: 3600})
		fresh := r.Key
		if err != nil || r.ID != k.ID || !strings.HasPrefix(fresh, "tg_") || fresh == old || r.Prefix != fresh[3:11] {
			t.Fatalf("rotate = %+v, %v", r, err)
		}
		e.clock.Advance(3599 * time.Second)
		for _, s := range []string{old, fresh} {
			me, err := e.client(s).Me(t.Context())
			if err != nil || me.Key == nil || me.Key.ID != k.ID {
				t.Fatalf("me = %+v, %v", me, err)
			}
		}
		e.clock.Advance(time.Second)
		wantCode(t, errOf(e.client(old).Me(t.Context())), 401, "invalid_authorization", "")
		wantNil(t, errOf(e.client(fresh).Me(t.Context())))
	})
	t.Run("DefaultNoGrace", func(t *testing.T) {
		k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "rot0"})
		old := k.Key
		wantNil(t, errOf(e.client(old).Me(t.Context()))) // cached
		r, err := e.client(e.conTok).RotateKey(t.Context(), k.ID, httpapi.RotateKeyRequest{})
		wantNil(t, err)
		wantCode(t, errOf(e.client(old).Me(t.Context())), 401, "invalid_authorization", "")
		wantNil(t, errOf(e.client(r.Key).Me(t.Context())))
	})
	t.Run("NegativeGrace", func(t *testing.T) {
		k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "rotneg"})
		wantCode(t, errOf(e.client(e.conTok).RotateKey(t.Context(), k.ID, httpapi.RotateKeyRequest{GraceSeconds: -1})), 400, "invalid_field", "body.grace_seconds")
	})
}

func TestAPIKeyEffectiveRole(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	t.Run("ViewerKeyOfAdminStaysViewer", func(t *testing.T) {
		k := e.createKey(e.adminTok, httpapi.CreateKeyRequest{Name: "ro", Role: ptr("viewer")})
		s := k.Key
		me, err := e.client(s).Me(t.Context())
		want := &httpapi.MeKey{ID: k.ID, Name: "ro", Prefix: k.Prefix, Role: "viewer"}
		if err != nil || me.Role != "viewer" || !reflect.DeepEqual(me.Key, want) || me.Email != "admin@example.com" {
			t.Fatalf("me = %+v, %v", me, err)
		}
		wantError(t, e.do("POST", "/test/contribute", s, nil), 403, "insufficient_role", "")
		wantCode(t, errOf(e.client(s).ListUsers(t.Context(), client.ListOptions{})), 403, "insufficient_role", "")
		wantError(t, e.do("POST", "/api/keys", s, map[string]any{"name": "escalate", "role": "admin"}), 403, "insufficient_role", "")
	})
	t.Run("ContributorKeyCannotMintAdminKey", func(t *testing.T) {
		k := e.createKey(e.adminTok, httpapi.CreateKeyRequest{Name: "c", Role: ptr("contributor")})
		wantError(t, e.do("POST", "/api/keys", k.Key, map[string]any{"name": "x", "role": "admin"}), 400, "invalid_field", "body.role")
	})
	t.Run("DemotedOwnerLosesRole", func(t *testing.T) {
		k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "c"})
		s := k.Key
		r := e.do("POST", "/test/contribute", s, nil)
		wantStatus(t, r, 200)
		if r.body["role"] != "contributor" {
			t.Fatalf("role = %s", r.raw)
		}
		admin := e.client(e.adminTok)
		wantNil(t, errOf(admin.UpdateUser(t.Context(), e.conID, httpapi.PatchUserRequest{Role: ptr("viewer")})))
		wantError(t, e.do("POST", "/test/contribute", s, nil), 403, "insufficient_role", "")
		me, err := e.client(s).Me(t.Context())
		if err != nil || me.Role != "viewer" || me.Key.Role != "contributor" {
			t.Fatalf("me after demotion = %+v, %v", me, err)
		}
		wantNil(t, errOf(admin.UpdateUser(t.Context(), e.conID, httpapi.PatchUserRequest{Active: ptr(false)})))
		wantCode(t, errOf(e.client(s).Me(t.Context())), 401, "invalid_authorization", "")
		wantNil(t, errOf(admin.UpdateUser(t.Context(), e.conID, httpapi.PatchUserRequest{Active: ptr(true), Role: ptr("contributor")})))
		wantStatus(t, e.do("POST", "/test/contribute", s, nil), 200)
	})
}

// TestAPIKeyTransportsAgree sends the same credential as Bearer (any case
// of the scheme) and X-API-Key on every route class and wants identical
// answers.
func TestAPIKeyTransportsAgree(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	good := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "c"}).Key
	revoked := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "r"})
	wantNil(t, e.client(e.conTok).RevokeKey(t.Context(), revoked.ID))
	routes := []struct{ method, path string }{
		{"GET", "/api/auth/me"},      // viewer
		{"POST", "/test/contribute"}, // contributor
		{"GET", "/api/keys"},         // contributor, own data
		{"GET", "/api/admin/users"},  // admin: 403
		{"GET", "/v1/models"},        // /v1
		{"GET", "/api/usage"},        // user-scoped
		{"GET", "/api/auth/status"},  // public
		{"POST", "/api/auth/token"},  // exchange
	}
	for _, cred := range []string{good, revoked.Key, "tg_" + strings.Repeat("A", 43), "tg_short"} {
		for _, rt := range routes {
			var got []string
			for _, hdr := range [][]string{{"Authorization", "Bearer " + cred}, {"Authorization", "bEaReR " + cred}, {"X-API-Key", cred}} {
				r := e.do(rt.method, rt.path, "", nil, hdr...)
				var body map[string]any
				_ = json.Unmarshal([]byte(r.raw), &body)
				delete(body, "access_token") // a fresh JWT each time
				b, _ := json.Marshal(body)
				got = append(got, http.StatusText(r.status)+" "+string(b))
			}
			if got[0] != got[1] || got[0] != got[2] {
				t.Errorf("%s %s: transports disagree:\n%s", rt.method, rt.path, strings.Join(got, "\n"))
			}
		}
	}
	wantCode(t, errOf(e.client(good).ListUsers(t.Context(), client.ListOptions{})), 403, "insufficient_role", "")
	other := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "o"}).Key
	wantError(t, e.do("GET", "/api/auth/me", good, nil, "X-API-Key", other), 400, "ambiguous_credentials", "")
	wantStatus(t, e.do("GET", "/api/auth/me", good, nil, "X-API-Key", good), 200)
	for _, q := range []string{"api_key", "access_token", "token", "key"} {
		wantError(t, e.do("GET", "/api/auth/me?"+q+"="+good, "", nil), 400, "invalid_field", "query."+q)
	}
}

func TestKeyExchange(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "ex"})
	secret := k.Key
	r := e.do("POST", "/api/auth/token", "", nil, "X-API-Key", secret)
	wantStatus(t, r, 200)
	if got := keysOf(r.body); !reflect.DeepEqual(got, []string{"access_token", "expires_in", "token_type"}) ||
		r.body["token_type"] != "bearer" || r.body["expires_in"] != float64(3600) {
		t.Fatalf("token = %s", r.raw)
	}
	jwt := r.body["access_token"].(string)
	byKey, byJWT := e.do("GET", "/api/auth/me", secret, nil), e.do("GET", "/api/auth/me", jwt, nil)
	wantStatus(t, byJWT, 200)
	if !reflect.DeepEqual(byKey.body, byJWT.body) || byJWT.body["key"].(map[string]any)["id"] != k.ID {
		t.Fatalf("me by key %s, by exchanged JWT %s", byKey.raw, byJWT.raw)
	}
	wantStatus(t, e.do("POST", "/test/contribute", jwt, nil), 200)
	// Only a key or static token can be exchanged.
	wantCode(t, errOf(e.client(jwt).ExchangeToken(t.Context())), 401, "invalid_authorization", "")
	wantCode(t, errOf(e.client(e.conTok).ExchangeToken(t.Context())), 401, "invalid_authorization", "")
	// The JWT dies with its key.
	wantNil(t, e.client(e.conTok).RevokeKey(t.Context(), k.ID))
	wantCode(t, errOf(e.client(jwt).Me(t.Context())), 401, "invalid_authorization", "")
}

// TestAPIKeyChangesReachOtherInstances: a second instance on the same
// database sees a revocation at its next sync tick (≤
// auth.cache_sync_interval, which config caps at 5s).
func TestAPIKeyChangesReachOtherInstances(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	e2 := e.second()
	k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "shared"})
	secret := k.Key
	wantNil(t, errOf(e2.client(secret).Me(t.Context()))) // warms e2's cache
	wantNil(t, e.client(e.conTok).RevokeKey(t.Context(), k.ID))
	if err := e2.app.identity.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, errOf(e2.client(secret).Me(t.Context())), 401, "invalid_authorization", "")
}

func TestAPIKeyLastUsedIsBatched(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t)
	k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "u"})
	for i := 0; i < 3; i++ {
		wantNil(t, errOf(e.client(k.Key).Me(t.Context())))
	}
	con := e.client(e.conTok)
	list, err := con.ListKeys(t.Context(), client.ListOptions{})
	if err != nil || list.Data[0].LastUsedAt != nil {
		t.Fatalf("last_used_at written on the request path: %+v, %v", list, err)
	}
	if err := e.app.keys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err = con.ListKeys(t.Context(), client.ListOptions{})
	if err != nil || list.Data[0].LastUsedAt == nil || list.Data[0].LastUsedAt.Sub(e.clock.Now()).Abs() > time.Millisecond {
		t.Fatalf("last_used_at = %+v (%v), want the clock's now", list.Data[0].LastUsedAt, err)
	}
}

func TestAPIKeyLogsNoSecret(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t, "TOLLGATE_LOG_LEVEL=debug")
	k := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "s"})
	secret := k.Key
	jwt := e.do("POST", "/api/auth/token", secret, nil).body["access_token"].(string)
	e.do("GET", "/api/auth/me", secret, nil)
	e.do("GET", "/api/auth/me", jwt, nil)
	e.do("GET", "/api/auth/me", "tg_"+strings.Repeat("B", 43), nil)
	if logs := e.logs.String(); strings.Contains(logs, secret[3:]) || strings.Contains(logs, jwt) {
		t.Fatal("logs contain a key or token")
	}
}
