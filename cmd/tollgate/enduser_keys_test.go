package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/httpapi"
)

const euChat = `{"model":"echo","messages":[{"role":"user","content":"one two three"}]}`

// usageRequests polls (bounded: the usage writer flushes in the
// background) until GET /api/usage as the credential reports want
// requests, and returns the last count seen.
func (e *keyEnv) usageRequests(cred string, want float64, hdr ...string) float64 {
	e.t.Helper()
	var got float64
	for i := 0; i < 200; i++ {
		r := e.do("GET", "/api/usage", cred, nil, hdr...)
		wantStatus(e.t, r, http.StatusOK)
		got = 0
		for _, row := range r.body["data"].([]any) {
			got += row.(map[string]any)["requests"].(float64)
		}
		if got == want {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	return got
}

func TestAppCredentialEndUserRules(t *testing.T) {
	t.Parallel()
	e := newKeyEnv(t, "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms")
	app := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "app", EndUserMode: true})
	if !app.EndUserMode {
		t.Fatalf("end_user_mode = %v", app.EndUserMode)
	}
	appKey := app.Key
	plain := e.createKey(e.conTok, httpapi.CreateKeyRequest{Name: "plain"}).Key
	const h = "X-End-User-Id"

	t.Run("HeaderMandatoryOnUserScopedRoutes", func(t *testing.T) {
		wantError(t, e.do("POST", "/v1/chat/completions", appKey, euChat), 400, "missing_field", "headers.x-end-user-id")
		wantError(t, e.do("GET", "/api/usage", appKey, nil), 400, "missing_field", "headers.x-end-user-id")
		wantError(t, e.do("GET", "/api/usage", "", nil, "X-API-Key", appKey), 400, "missing_field", "headers.x-end-user-id")
	})
	t.Run("HeaderOptionalElsewhereAndEchoed", func(t *testing.T) {
		wantStatus(t, e.do("GET", "/v1/models", appKey, nil), 200)
		me := e.do("GET", "/api/auth/me", appKey, nil, h, "alice@app")
		wantStatus(t, me, 200)
		if me.body["end_user_id"] != "alice@app" || me.body["id"] != e.conID {
			t.Fatalf("me = %s", me.raw)
		}
	})
	t.Run("HeaderValidated", func(t *testing.T) {
		for _, bad := range []string{"has space", "a/b", strings.Repeat("a", 129)} {
			wantError(t, e.do("GET", "/api/auth/me", appKey, nil, h, bad), 400, "invalid_field", "headers.x-end-user-id")
		}
	})
	t.Run("UserIDInQueryOrBodyRefused", func(t *testing.T) {
		wantError(t, e.do("GET", "/api/usage?user_id=bob", appKey, nil, h, "alice"), 400, "invalid_field", "query.user_id")
		wantError(t, e.do("POST", "/v1/chat/completions", appKey, `{"model":"echo","user":"bob","messages":[{"role":"user","content":"x"}]}`, h, "alice"), 400, "invalid_field", "body.user")
		wantError(t, e.do("POST", "/v1/chat/completions", appKey, `{"model":"echo","user_id":"bob","messages":[{"role":"user","content":"x"}]}`, h, "alice"), 400, "invalid_field", "body.user_id")
	})
	t.Run("HeaderRefusedFromOtherCredentials", func(t *testing.T) {
		wantError(t, e.do("GET", "/api/auth/me", plain, nil, h, "alice"), 400, "invalid_field", "headers.x-end-user-id")
		wantError(t, e.do("GET", "/api/auth/me", e.conTok, nil, h, "alice"), 400, "invalid_field", "headers.x-end-user-id")
	})
	t.Run("DataScopedPerEndUser", func(t *testing.T) {
		for _, who := range []string{"alice", "alice", "bob"} {
			wantStatus(t, e.do("POST", "/v1/chat/completions", appKey, euChat, h, who), 200)
		}
		if got := e.usageRequests(appKey, 2, h, "alice"); got != 2 {
			t.Fatalf("alice sees %v requests, want 2", got)
		}
		if got := e.usageRequests(appKey, 1, h, "bob"); got != 1 {
			t.Fatalf("bob sees %v requests, want 1", got)
		}
		if got := e.usageRequests(appKey, 0, h, "carol"); got != 0 {
			t.Fatalf("carol sees %v requests, want 0", got)
		}
		// A contributor app credential may not read tenant-wide.
		wantError(t, e.do("GET", "/api/usage", appKey, nil), 400, "missing_field", "headers.x-end-user-id")
	})
	t.Run("AdminAppCredentialTenantWideOnGET", func(t *testing.T) {
		adm := e.createKey(e.adminTok, httpapi.CreateKeyRequest{Name: "adm-app", EndUserMode: true, Role: ptr("admin")}).Key
		for _, who := range []string{"x", "y"} {
			wantStatus(t, e.do("POST", "/v1/chat/completions", adm, euChat, h, who), 200)
		}
		if got := e.usageRequests(adm, 2); got != 2 {
			t.Fatalf("tenant-wide view = %v requests, want 2 (its own end users only)", got)
		}
		if got := e.usageRequests(adm, 1, h, "x"); got != 1 {
			t.Fatalf("end user x = %v", got)
		}
		wantError(t, e.do("POST", "/v1/chat/completions", adm, euChat), 400, "missing_field", "headers.x-end-user-id")
	})
}
