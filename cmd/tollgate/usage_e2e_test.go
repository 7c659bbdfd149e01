package main

import (
	"fmt"
	"reflect"
	"strings"
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
	if want := []gateway.UsageGroup{{Group: "echo", Requests: 2, PromptTokens: 6, CompletionTokens: 6, Statuses: gateway.UsageStatuses{OK: 2}}}; !reflect.DeepEqual(r.Data, want) {
		t.Fatalf("usage = %+v, want %+v", r.Data, want)
	}
	admin, err := c.AdminUsage(t.Context(), client.UsageQuery{GroupBy: gateway.UsageByUser})
	if want := []gateway.UsageGroup{{Group: "local", Requests: 2, PromptTokens: 6, CompletionTokens: 6, Statuses: gateway.UsageStatuses{OK: 2}}}; err != nil || !reflect.DeepEqual(admin.Data, want) {
		t.Fatalf("admin usage by user = %+v, %v; want the local principal", admin.Data, err)
	}
	for _, tc := range []struct {
		by   gateway.UsageGroupBy
		want []gateway.UsageGroup
	}{
		{gateway.UsageByStatus, []gateway.UsageGroup{{Group: "ok", Requests: 2, PromptTokens: 6, CompletionTokens: 6, Statuses: gateway.UsageStatuses{OK: 2}}}},
		{gateway.UsageByServedModel, []gateway.UsageGroup{{Group: "echo", Requests: 2, PromptTokens: 6, CompletionTokens: 6, Statuses: gateway.UsageStatuses{OK: 2}}}},
	} {
		got, err := c.Usage(t.Context(), client.UsageQuery{GroupBy: tc.by})
		if err != nil || !reflect.DeepEqual(got.Data, tc.want) {
			t.Fatalf("usage by %s = %+v, %v; want %+v", tc.by, got.Data, err, tc.want)
		}
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

// TestUsageByKeyShowsKeyNames: group_by=key names each key, so a usage
// table is readable without a second lookup.
func TestUsageByKeyShowsKeyNames(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms")
	tok := e.setup()
	k := &keyEnv{authEnv: e}
	key := k.createKey(tok, httpapi.CreateKeyRequest{Name: "reporting job"})
	for _, cred := range []string{key.Key, tok} {
		if r := e.do("POST", "/v1/chat/completions", cred, map[string]any{"model": "echo",
			"messages": []map[string]string{{"role": "user", "content": "a b"}}}); r.status != 200 {
			t.Fatalf("chat = %d", r.status)
		}
	}
	var got httpapi.UsageResponse
	for range 200 {
		var err error
		if got, err = e.client(tok).Usage(t.Context(), client.UsageQuery{GroupBy: gateway.UsageByKey}); err != nil {
			t.Fatal(err)
		}
		if len(got.Data) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []gateway.UsageGroup{
		{Group: "", Requests: 1, PromptTokens: 2, CompletionTokens: 2, Statuses: gateway.UsageStatuses{OK: 1}},
		{Group: key.ID, Name: "reporting job", Requests: 1, PromptTokens: 2, CompletionTokens: 2, Statuses: gateway.UsageStatuses{OK: 1}},
	}
	if !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("usage by key = %+v, want %+v", got.Data, want)
	}
}

// TestCLIUsage: `tollgate usage` prints the caller's own usage as a table
// (with a total row) or as JSON, grouped as asked.
func TestCLIUsage(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms")
	tok := e.setup()
	k := &keyEnv{authEnv: e}
	key := k.createKey(tok, httpapi.CreateKeyRequest{Name: "reporting job"})
	for _, cred := range []string{key.Key, tok, tok} {
		if r := e.do("POST", "/v1/chat/completions", cred, map[string]any{"model": "echo",
			"messages": []map[string]string{{"role": "user", "content": "a b"}}}); r.status != 200 {
			t.Fatalf("chat = %d", r.status)
		}
	}
	for range 200 { // the writer flushes in the background (bounded wait)
		got, err := e.client(tok).Usage(t.Context(), client.UsageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Data) == 1 && got.Data[0].Requests == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := runCLI([]string{"TOLLGATE_SERVER=" + e.url, "TOLLGATE_API_KEY=" + tok}, "", args...)
		if err != nil || errOut != "" {
			t.Fatalf("%v = %q, %q, %v", args, out, errOut, err)
		}
		return out
	}
	if got, want := run("usage"), ""+
		"MODEL  REQUESTS  PROMPT TOKENS  COMPLETION TOKENS  OK  ERROR  INCOMPLETE  CANCELED\n"+
		"echo   3         6              6                  3   0      0           0\n"+
		"TOTAL  3         6              6                  3   0      0           0\n"; got != want {
		t.Fatalf("usage =\n%s\nwant\n%s", got, want)
	}
	if got, want := run("usage", "--group-by", "key", "--since", "1h"), ""+
		"KEY                                   NAME           REQUESTS  PROMPT TOKENS  COMPLETION TOKENS  OK  ERROR  INCOMPLETE  CANCELED\n"+
		"-                                     (no key)       2         4              4                  2   0      0           0\n"+
		key.ID+"  reporting job  1         2              2                  1   0      0           0\n"+
		"TOTAL                                                3         6              6                  3   0      0           0\n"; got != want {
		t.Fatalf("usage by key =\n%s\nwant\n%s", got, want)
	}
	if got, want := run("usage", "--group-by", "status", "-o", "json"), `[
  {
    "group": "ok",
    "requests": 3,
    "prompt_tokens": 6,
    "completion_tokens": 6,
    "cost": "0.000000",
    "statuses": {
      "ok": 3,
      "error": 0,
      "incomplete": 0,
      "canceled": 0
    }
  }
]
`; got != want {
		t.Fatalf("usage -o json =\n%s\nwant\n%s", got, want)
	}
	// The key sees only its own request.
	out, _, err := runCLI([]string{"TOLLGATE_SERVER=" + e.url, "TOLLGATE_API_KEY=" + key.Key}, "", "usage", "--group-by", "served_model")
	if want := "" +
		"SERVED MODEL  REQUESTS  PROMPT TOKENS  COMPLETION TOKENS  OK  ERROR  INCOMPLETE  CANCELED\n" +
		"echo          1         2              2                  1   0      0           0\n" +
		"TOTAL         1         2              2                  1   0      0           0\n"; err != nil || out != want {
		t.Fatalf("usage with the key = %q, %v; want\n%s", out, err, want)
	}
	for _, tc := range []struct{ args, err string }{
		{"usage --group-by user", `--group-by: "user" is not model, key, day, status or served_model`},
		{"usage --since soon", `--since: "soon" is not a positive duration (e.g. 720h or 30d)`},
		{"usage -o yaml", `-o/--output: "yaml" is not table or json`},
	} {
		if _, _, err := runCLI([]string{"TOLLGATE_SERVER=" + e.url, "TOLLGATE_API_KEY=" + tok}, "", strings.Fields(tc.args)...); err == nil || err.Error() != tc.err {
			t.Errorf("%s = %v, want %s", tc.args, err, tc.err)
		}
	}
	if _, _, err := runCLI([]string{"TOLLGATE_SERVER=" + e.url, "TOLLGATE_API_KEY=tg_wrong"}, "", "usage"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("usage with a bad key = %v, want a 401", err)
	}
}

// TestUsageByKeyPaginated: group_by=key and user are lists in the SPEC's
// format (limit, cursor, next_cursor); the group of requests without a
// key ("") pages like any other; bad limits and cursors are 400.
func TestUsageByKeyPaginated(t *testing.T) {
	t.Parallel()
	a, base, _, _ := startServeApp(t, testConfigTOML(t, ""))
	at := time.Now().UTC().Add(-time.Hour)
	var recs []gateway.UsageRecord
	for i, key := range []string{"", "k00", "k01", "k02", "k03", "k04"} {
		recs = append(recs, gateway.UsageRecord{ID: fmt.Sprintf("r%d", i), CreatedAt: at, UserID: fmt.Sprintf("u%d", i%3), KeyID: key,
			Model: "m", ServedModel: "m", PromptTokens: int64(i), Status: gateway.UsageOK, HTTPStatus: 200})
	}
	if err := a.store.InsertUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	var pages [][]string
	var cursors []any
	url := base + "/api/admin/usage?group_by=key&limit=2"
	for range 5 {
		r := call(t, "GET", url, "")
		if r.status != 200 {
			t.Fatalf("GET %s = %d %v", url, r.status, r.body)
		}
		var groups []string
		for _, g := range r.body["data"].([]any) {
			groups = append(groups, g.(map[string]any)["group"].(string))
		}
		pages = append(pages, groups)
		next, present := r.body["next_cursor"]
		if !present {
			t.Fatalf("no next_cursor field in %v", r.body)
		}
		cursors = append(cursors, next)
		if next == nil {
			break
		}
		url = base + "/api/admin/usage?group_by=key&limit=2&cursor=" + next.(string)
	}
	if want := [][]string{{"", "k00"}, {"k01", "k02"}, {"k03", "k04"}}; !reflect.DeepEqual(pages, want) {
		t.Fatalf("pages = %q, want %q", pages, want)
	}
	if cursors[len(cursors)-1] != nil {
		t.Fatalf("last next_cursor = %v, want null", cursors[len(cursors)-1])
	}
	users := call(t, "GET", base+"/api/admin/usage?group_by=user&limit=200", "")
	if got := len(users.body["data"].([]any)); users.status != 200 || got != 3 || users.body["next_cursor"] != nil {
		t.Fatalf("group_by=user = %d, %d groups, next %v; want 200, 3, null", users.status, got, users.body["next_cursor"])
	}
	models := call(t, "GET", base+"/api/admin/usage?group_by=model&limit=1", "")
	if v, present := models.body["next_cursor"]; models.status != 200 || !present || v != nil {
		t.Fatalf("group_by=model = %d next_cursor %v (present %v); want 200 and null: not paginated", models.status, v, present)
	}
	for _, tc := range []struct{ url, param string }{
		{"/api/admin/usage?group_by=key&limit=0", "query.limit"},
		{"/api/admin/usage?group_by=key&limit=201", "query.limit"},
		{"/api/admin/usage?group_by=user&limit=x", "query.limit"},
		{"/api/admin/usage?group_by=key&cursor=!!", "query.cursor"},
		{"/api/admin/usage?group_by=key&cursor=e30", "query.cursor"},  // {}
		{"/api/usage?group_by=key&cursor=eyJnIjoxfQ", "query.cursor"}, // {"g":1}
	} {
		r := call(t, "GET", base+tc.url, "")
		if typ, code, param := errCode(r); r.status != 400 || typ != "invalid_request_error" || code != "invalid_field" || param != tc.param {
			t.Errorf("GET %s = %d %s/%s %v, want 400 invalid_field %s", tc.url, r.status, typ, code, param, tc.param)
		}
	}
}
