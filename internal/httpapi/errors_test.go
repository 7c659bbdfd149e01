package httpapi_test

import (
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// TestAppendErrorEvent pins the SSE error frame: the same envelope as a
// JSON answer, as one data line, with an event name for conversation
// streams and none for /v1; an internal cause never shows.
func TestAppendErrorEvent(t *testing.T) {
	for _, tc := range []struct {
		name, event string
		err         error
		want        string
	}{
		{"V1Cut", "", &gateway.Error{Kind: gateway.KindUpstream, Code: "upstream_error", Message: `say "hi"`},
			`data: {"error":{"type":"upstream_error","code":"upstream_error","message":"say \"hi\"","param":null}}` + "\n\n"},
		{"V1Unavailable", "", &gateway.Error{Kind: gateway.KindUnavailable, Code: "upstream_unavailable", Message: "down"},
			`data: {"error":{"type":"unavailable_error","code":"upstream_unavailable","message":"down","param":null}}` + "\n\n"},
		{"ConversationError", "error", gateway.Internal("finish message", errors.New("disk full")),
			"event: error\n" + `data: {"error":{"type":"server_error","code":"internal_error","message":"internal error","param":null}}` + "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(httpapi.AppendErrorEvent([]byte("x"), tc.event, tc.err)); got != "x"+tc.want {
				t.Fatalf("frame\n got %q\nwant %q", got, "x"+tc.want)
			}
		})
	}
}
