package main

import (
	"testing"
	"time"
)

func TestUsageAPI(t *testing.T) {
	base := newTestApp(t, "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms")
	for i := 0; i < 2; i++ {
		if r := call(t, "POST", base+"/v1/chat/completions", chatBody); r.status != 200 {
			t.Fatalf("chat = %d", r.status)
		}
	}
	// The writer flushes in the background: poll, bounded, for the rows.
	var r apiResult
	for i := 0; i < 200; i++ {
		r = call(t, "GET", base+"/api/usage?group_by=model", "")
		if data, _ := r.body["data"].([]any); len(data) > 0 {
			if row := data[0].(map[string]any); row["requests"] == float64(2) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	data, _ := r.body["data"].([]any)
	if r.status != 200 || len(data) != 1 {
		t.Fatalf("usage = %d %v, want one group", r.status, r.body)
	}
	row := data[0].(map[string]any)
	want := map[string]any{"group": "echo", "requests": float64(2), "prompt_tokens": float64(6), "completion_tokens": float64(6)}
	for k, v := range want {
		if row[k] != v {
			t.Fatalf("usage row %s = %v, want %v (row %v)", k, row[k], v, row)
		}
	}
	admin := call(t, "GET", base+"/api/admin/usage?group_by=user", "")
	if d, _ := admin.body["data"].([]any); admin.status != 200 || len(d) != 1 || d[0].(map[string]any)["group"] != "local" {
		t.Fatalf("admin usage by user = %d %v, want the local principal", admin.status, admin.body)
	}
	for _, tc := range []struct{ url, param string }{
		{"/api/usage?group_by=user", "query.group_by"},
		{"/api/usage?group_by=nope", "query.group_by"},
		{"/api/usage?from=yesterday", "query.from"},
		{"/api/usage?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "query.from"},
	} {
		r := call(t, "GET", base+tc.url, "")
		if typ, code, param := errCode(r); r.status != 400 || typ != "invalid_request_error" || code != "invalid_field" || param != tc.param {
			t.Errorf("GET %s = %d %s/%s %v, want 400 invalid_field %s", tc.url, r.status, typ, code, param, tc.param)
		}
	}
}
