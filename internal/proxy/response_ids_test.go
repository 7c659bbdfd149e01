package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// TestResponseIDsWriteThrough: two proxies on one store (one echo
// provider, so both reach the response): an id created through A is
// scoped by B to its creator's end user; a stored id past its 30 days or
// of a model no longer configured is 404; with the database down an id
// missing from memory answers 503 not_ready (never another caller's
// response), while ids in memory keep answering and a new id is still
// served by the instance that created it.
func TestResponseIDsWriteThrough(t *testing.T) {
	t.Parallel()
	st := sqltest.SQLite(t)
	prov := echo.New(echo.Model, nil)
	app := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "app", EndUserMode: true, Role: gateway.RoleAdmin}
	instance := func() *harness {
		h := &harness{usage: &usageSink{}, done: make(chan struct{}, 1024), principal: app}
		px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: echo.Model, Provider: prov}}, Usage: h.usage, ResponseIDs: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(px.Close)
		h.px, h.srv = px, serveRouter(t, px, principalAuth{h}, h.done)
		return h
	}
	a, b := instance(), instance()
	create := func(h *harness, endUser string) string {
		t.Helper()
		resp := h.send(t, "POST", "/v1/responses", `{"model":"echo","input":"hi"}`, "X-End-User-Id", endUser)
		var created struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&created)
		h.waitDone(t)
		if resp.StatusCode != 200 || created.ID == "" {
			t.Fatalf("POST = %d, id %q", resp.StatusCode, created.ID)
		}
		return created.ID
	}
	status := func(h *harness, method, id string, hdr ...string) (int, string) {
		t.Helper()
		resp := h.send(t, method, "/v1/responses/"+id, "", hdr...)
		raw, _ := io.ReadAll(resp.Body)
		h.waitDone(t)
		var body struct{ Error struct{ Code string } }
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, body.Error.Code
	}
	id := create(a, "u1")
	ctx := context.Background()
	old := time.Now().Add(-30*24*time.Hour - time.Minute)
	for _, r := range []gateway.ResponseID{
		{ID: "resp_expired", Owner: gateway.Owner{UserID: "owner", EndUserID: "u1"}, Model: echo.Model, CreatedAt: old},
		{ID: "resp_gone_model", Owner: gateway.Owner{UserID: "owner", EndUserID: "u1"}, Model: "gone", CreatedAt: time.Now()},
	} {
		if err := st.PutResponseID(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, id string
		hdr      []string
		status   int
		code     string
	}{
		{"OtherEndUser", id, []string{"X-End-User-Id", "u2"}, 404, "not_found"},
		{"TenantWide", id, nil, 200, ""},
		{"Creator", id, []string{"X-End-User-Id", "u1"}, 200, ""},
		{"Expired", "resp_expired", []string{"X-End-User-Id", "u1"}, 404, "not_found"},
		{"ModelGone", "resp_gone_model", []string{"X-End-User-Id", "u1"}, 404, "not_found"},
		{"Unknown", "resp_unknown", []string{"X-End-User-Id", "u1"}, 404, "not_found"},
	} {
		if s, c := status(b, "GET", tc.id, tc.hdr...); s != tc.status || c != tc.code {
			t.Fatalf("%s: GET on B = %d %q, want %d %q", tc.name, s, c, tc.status, tc.code)
		}
	}
	// Another owner's credential is another caller, also for end user u1.
	b.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "other", KeyID: "app2", EndUserMode: true, Role: gateway.RoleAdmin}
	if s, c := status(b, "GET", id, "X-End-User-Id", "u1"); s != 404 || c != "not_found" {
		t.Fatalf("other owner GET on B = %d %q, want 404 not_found", s, c)
	}
	b.principal = app
	if n, err := a.px.PruneResponseIDs(ctx); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v, want 1 (resp_expired)", n, err)
	}

	// The database goes away.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if s, c := status(b, "GET", "resp_unknown", "X-End-User-Id", "u1"); s != 503 || c != "not_ready" {
		t.Fatalf("GET of an id not in memory with the database down = %d %q, want 503 not_ready", s, c)
	}
	resp := b.send(t, "POST", "/v1/responses", `{"model":"echo","input":"x","previous_response_id":"resp_unknown"}`, "X-End-User-Id", "u1")
	b.waitDone(t)
	if resp.StatusCode != 503 {
		t.Fatalf("previous_response_id with the database down = %d, want 503", resp.StatusCode)
	}
	if s, _ := status(b, "GET", id, "X-End-User-Id", "u1"); s != 200 {
		t.Fatalf("GET of an id in B's memory with the database down = %d, want 200", s)
	}
	if s, c := status(b, "GET", id, "X-End-User-Id", "u2"); s != 404 || c != "not_found" {
		t.Fatalf("other end user, database down = %d %q, want 404 not_found", s, c)
	}
	fresh := create(a, "u1")
	if s, _ := status(a, "GET", fresh, "X-End-User-Id", "u1"); s != 200 {
		t.Fatalf("GET of a new id on its instance with the database down = %d, want 200", s)
	}
}
