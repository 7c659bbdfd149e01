package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// wantErr checks an error answer exactly.
func wantErr(t *testing.T, resp *http.Response, b []byte, status int, typ, code, param string) {
	t.Helper()
	var ej errJSON
	_ = json.Unmarshal(b, &ej)
	p := ""
	if ej.Error.Param != nil {
		p = *ej.Error.Param
	}
	if resp.StatusCode != status || ej.Error.Type != typ || ej.Error.Code != code || p != param {
		t.Fatalf("got %d %s; want %d %s %s %q", resp.StatusCode, b, status, typ, code, param)
	}
}

// TestInvites: a token is shown once, never listed or logged; it joins
// with its role until it expires (injected clock), is used up or is
// revoked, and every dead or guessed token answers the same 404 not_found.
func TestInvites(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
		var clock atomic.Int64
		clock.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixMicro())
		now := func() time.Time { return time.UnixMicro(clock.Load()).UTC() }
		logs := &syncBuffer{}
		e := newConvEnv(t, envOpt{db: db, now: now, log: logs})
		c := e.createConv(t, alice, `{"title":"team"}`)
		inviteKeys := []string{"conversation_id", "created_at", "expires_at", "id", "max_uses", "revoked_at", "role", "uses"}

		resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/invites", `{"role":"writer","max_uses":2,"expires_in_seconds":60}`)
		if resp.StatusCode != 201 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("create: %d %v %s", resp.StatusCode, resp.Header, b)
		}
		wantKeys(t, b, []string{"conversation_id", "created_at", "expires_at", "id", "max_uses", "revoked_at", "role", "token", "uses"})
		var inv map[string]any
		_ = json.Unmarshal(b, &inv)
		token, _ := inv["token"].(string)
		if !strings.HasPrefix(token, "tgi_") || len(token) < 40 || inv["role"] != "writer" || inv["max_uses"] != 2.0 || inv["uses"] != 0.0 ||
			inv["expires_at"] != "2026-05-01T12:01:00Z" || inv["revoked_at"] != nil {
			t.Fatalf("created invite = %s", b)
		}
		// Listed without the token.
		resp, b = e.call(t, alice, "GET", "/api/conversations/"+c.ID+"/invites", "")
		var list struct{ Data []json.RawMessage }
		_ = json.Unmarshal(b, &list)
		if resp.StatusCode != 200 || len(list.Data) != 1 || strings.Contains(string(b), token) {
			t.Fatalf("list: %d %s", resp.StatusCode, b)
		}
		wantKeys(t, list.Data[0], inviteKeys)
		// Only the owner creates, lists and revokes.
		resp, b = e.call(t, bob, "GET", "/api/conversations/"+c.ID+"/invites", "")
		wantErr(t, resp, b, 404, "not_found_error", "conversation_not_found", "")
		resp, b = e.call(t, bob, "POST", "/api/conversations/"+c.ID+"/invites", `{"role":"reader"}`)
		wantErr(t, resp, b, 404, "not_found_error", "conversation_not_found", "")
		resp, b = e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/invites", `{"role":"reader","max_uses":0}`)
		wantErr(t, resp, b, 400, "invalid_request_error", "invalid_field", "body.max_uses")
		resp, b = e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/invites", `{}`)
		wantErr(t, resp, b, 400, "invalid_request_error", "missing_field", "body.role")
		eu := e.createConv(t, endU1, `{}`)
		resp, b = e.call(t, endU1, "POST", "/api/conversations/"+eu.ID+"/invites", `{"role":"reader"}`)
		wantErr(t, resp, b, 404, "not_found_error", "conversation_not_found", "")

		accept := func(who as, tok string) (*http.Response, []byte) {
			return e.call(t, who, "POST", "/api/invites/accept", `{"token":"`+tok+`"}`)
		}
		// Accept: bob joins as a writer.
		resp, b = accept(bob, token)
		var joined map[string]any
		_ = json.Unmarshal(b, &joined)
		if resp.StatusCode != 200 || joined["id"] != c.ID || joined["role"] != "writer" {
			t.Fatalf("accept: %d %s", resp.StatusCode, b)
		}
		e.post(t, bob, c.ID, `{"content":"bob writes"}`)
		// Guessed tokens.
		for _, guess := range []string{"tgi_" + strings.Repeat("a", 52), "nonsense", token + "x"} {
			resp, b = accept(strangeU, guess)
			wantErr(t, resp, b, 404, "not_found_error", "not_found", "")
		}
		// Used up after its second use.
		if resp, b = accept(readerU, token); resp.StatusCode != 200 {
			t.Fatalf("second use: %d %s", resp.StatusCode, b)
		}
		resp, b = accept(strangeU, token)
		wantErr(t, resp, b, 404, "not_found_error", "not_found", "")

		// Expired: valid until 60 s after creation.
		var inv2 map[string]any
		e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/invites", `{"role":"reader","expires_in_seconds":60}`, 201, &inv2)
		tok2 := inv2["token"].(string)
		clock.Add((60 * time.Second).Microseconds())
		resp, b = accept(strangeU, tok2)
		wantErr(t, resp, b, 404, "not_found_error", "not_found", "")

		// Revoked: by the owner only; then dead.
		var inv3 map[string]any
		e.callJSON(t, alice, "POST", "/api/conversations/"+c.ID+"/invites", `{"role":"reader"}`, 201, &inv3)
		tok3, id3 := inv3["token"].(string), inv3["id"].(string)
		resp, b = e.call(t, bob, "DELETE", "/api/invites/"+id3, "")
		wantErr(t, resp, b, 404, "not_found_error", "not_found", "")
		e.callJSON(t, alice, "DELETE", "/api/invites/"+id3, "", 204, nil)
		resp, b = accept(strangeU, tok3)
		wantErr(t, resp, b, 404, "not_found_error", "not_found", "")
		resp, b = e.call(t, strangeU, "GET", "/api/conversations/"+c.ID, "")
		wantErr(t, resp, b, 404, "not_found_error", "conversation_not_found", "")

		out := logs.String()
		if !strings.Contains(out, "/api/invites/accept") {
			t.Fatalf("the access log was not captured: %q", out)
		}
		for _, tok := range []string{token, tok2, tok3} {
			if strings.Contains(out, tok) || strings.Contains(out, tok[4:]) {
				t.Fatalf("a token is in the log:\n%s", out)
			}
		}
	})
}
