package client_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// The real server is exercised in cmd/tollgate (TestClientAgainstServer);
// these cases need answers it does not give on demand.

func TestStreamErrorEvent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-End-User-Id") != "eu" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("headers = %v", r.Header)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message.created\ndata: {\"id\":\"msg_a\",\"role\":\"assistant\",\"status\":\"pending\"}\n\n"+
			"event: message.delta\ndata: {\"message_id\":\"msg_a\",\"delta\":\"hi\"}\n\n"+
			"event: error\ndata: {\"error\":{\"type\":\"upstream_error\",\"code\":\"upstream_timeout\",\"message\":\"slow\",\"param\":null}}\n\n"+
			"event: message.done\ndata: {\"id\":\"msg_a\",\"role\":\"assistant\",\"status\":\"error\",\"content\":\"hi\"}\n\n")
	}))
	defer srv.Close()
	c := client.New(srv.URL).WithToken("tok").WithEndUser("eu")
	var got []client.MessageEvent
	for ev, err := range c.StreamMessage(t.Context(), "conv_x", httpapi.PostMessageRequest{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 4 || got[0].Message.ID != "msg_a" || got[1].Delta.Delta != "hi" || got[3].Message.Status != "error" {
		t.Fatalf("events = %+v", got)
	}
	want := gateway.Error{Kind: gateway.KindUpstreamTimeout, Code: "upstream_timeout", Message: "slow"}
	if got[2].Type != client.EventError || *got[2].Err != want {
		t.Fatalf("error event = %+v, want %+v", got[2].Err, want)
	}
}

func TestStreamBadEvent(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "event: message.delta\ndata: {not json\n\n")
	}))
	defer srv.Close()
	n := 0
	for _, err := range client.New(srv.URL).StreamMessage(t.Context(), "c", httpapi.PostMessageRequest{}) {
		n++
		if err == nil {
			t.Fatal("an undecodable event gave no error")
		}
	}
	if n != 1 {
		t.Fatalf("%d items, want 1", n)
	}
}

func TestKindOfStatus(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]gateway.Kind{400: gateway.KindInvalid, 401: gateway.KindUnauthenticated, 403: gateway.KindPermission,
		404: gateway.KindNotFound, 405: gateway.KindMethodNotAllowed, 409: gateway.KindConflict, 413: gateway.KindTooLarge,
		415: gateway.KindUnsupportedMedia, 429: gateway.KindRateLimited, 500: gateway.KindInternal, 502: gateway.KindUpstream,
		503: gateway.KindUnavailable, 504: gateway.KindUpstreamTimeout} {
		if got := client.KindOf(status, gateway.KindInternal); got != want {
			t.Errorf("KindOf(%d) = %v, want %v", status, got, want)
		}
	}
	// An upstream's own 4xx keeps KindUpstream.
	if got := client.KindOf(422, gateway.KindUpstream); got != gateway.KindUpstream {
		t.Errorf("KindOf(422, upstream) = %v", got)
	}
}

// TestUndocumentedSuccessStatus: a 2xx other than the route's documented
// one is an error, so typed calls assert statuses as exactly as raw ones.
func TestUndocumentedSuccessStatus(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`) // 200 for everything
	}))
	defer srv.Close()
	c := client.New(srv.URL)
	if err := c.RevokeKey(t.Context(), "k"); err == nil || err.Error() != "DELETE /api/keys/k: status 200, want 204" {
		t.Fatalf("revoke answered 200: %v", err)
	}
	if _, err := c.CreateKey(t.Context(), httpapi.CreateKeyRequest{Name: "x"}); err == nil || err.Error() != "POST /api/keys: status 200, want 201" {
		t.Fatalf("create answered 200: %v", err)
	}
	if _, err := c.Me(t.Context()); err != nil {
		t.Fatalf("me answered 200: %v", err)
	}
}
