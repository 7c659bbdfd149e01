package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

func TestUsageAPI(t *testing.T) {
	t.Parallel()
	base := newTestApp(t, "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms")
	for i := 0; i < 2; i++ {
		if r := call(t, "POST", base+"/v1/chat/completions", chatBody); r.status != 200 {
			t.Fatalf("chat = %d", r.status)
		}
	}
	// The writer flushes in the background: poll, bounded, for the rows.
	c := client.New(base)
	var r httpapi.UsageResponse
	for i := 0; i < 200; i++ {
		var err error
		if r, err = c.Usage(t.Context(), client.UsageQuery{GroupBy: gateway.UsageByModel}); err != nil {
			t.Fatal(err)
		}
		if len(r.Data) > 0 && r.Data[0].Requests == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if want := []gateway.UsageGroup{{Group: "echo", Requests: 2, PromptTokens: 6, CompletionTokens: 6}}; !reflect.DeepEqual(r.Data, want) {
		t.Fatalf("usage = %+v, want %+v", r.Data, want)
	}
	admin, err := c.AdminUsage(t.Context(), client.UsageQuery{GroupBy: gateway.UsageByUser})
	if want := []gateway.UsageGroup{{Group: "local", Requests: 2, PromptTokens: 6, CompletionTokens: 6}}; err != nil || !reflect.DeepEqual(admin.Data, want) {
		t.Fatalf("admin usage by user = %+v, %v; want the local principal", admin.Data, err)
	}
	for _, g := range []gateway.UsageGroupBy{gateway.UsageByUser, "nope"} {
		_, err := c.Usage(t.Context(), client.UsageQuery{GroupBy: g})
		wantAPIError(t, err, gateway.Error{Kind: gateway.KindInvalid, Code: "invalid_field", Param: "query.group_by", Status: 400})
	}
	// Malformed queries the typed client cannot send.
	for _, tc := range []struct{ url, param string }{
		{"/api/usage?from=yesterday", "query.from"},
		{"/api/usage?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "query.from"},
	} {
		r := call(t, "GET", base+tc.url, "")
		if typ, code, param := errCode(r); r.status != 400 || typ != "invalid_request_error" || code != "invalid_field" || param != tc.param {
			t.Errorf("GET %s = %d %s/%s %v, want 400 invalid_field %s", tc.url, r.status, typ, code, param, tc.param)
		}
	}
}
