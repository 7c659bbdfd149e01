package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// auditIDs lists the ids of the admin audit route's records for query
// (newest first), through the API.
func (e *uiEnv) auditIDs(query string) []string {
	e.t.Helper()
	r := e.do("GET", "/api/admin/audit?limit=200&"+query, e.adminToken, nil)
	if r.status != 200 {
		e.t.Fatalf("GET /api/admin/audit?%s = %d %s", query, r.status, r.raw)
	}
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, d := range out.Data {
		ids = append(ids, d.ID)
	}
	return ids
}

// rowsJS is the audit table's rows as "id action outcome" lines.
const rowsJS = `[...document.querySelectorAll("#audit tbody tr[data-id]")].map(tr => tr.dataset.id + " " +
	tr.querySelector(".audit-action").textContent + " " + tr.querySelector(".badge[data-outcome]").textContent)`

// TestWebUIAuditLog: the admin audit page shows a failed login and a key
// creation (made through the API) with their action and outcome, newest
// first, as text (a key named like markup stays text); the action filter
// shows only key.created; "Load more" pages through exactly the records
// the API has; the account page's Activity tab shows the caller's own
// records; a contributor has no link and /admin/audit shows the API's
// 403 message (the API records the denial).
func TestWebUIAuditLog(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	admin := e.admin()
	ctx := t.Context()
	bob := e.user(admin, "bob@example.com", "contributor")

	// A failed login (records are batched: wait until it is stored, so
	// that the key created next is newer).
	if _, err := client.New(e.url).Login(ctx, "admin@example.com", "wrong password"); err == nil {
		t.Fatal("a wrong password signed in")
	}
	failed := waitRecords(t, func() []string { return e.auditIDs("action=auth.login_failed") }, 1)
	const markup = `<img src=x onerror="window.__xss=1">`
	if _, err := admin.CreateKey(ctx, httpapi.CreateKeyRequest{Name: markup}); err != nil {
		t.Fatal(err)
	}
	created := e.auditIDs("action=key.created")
	if len(created) != 1 {
		t.Fatalf("key.created records: %v", created)
	}

	u := newUI(t, e.url)
	u.open("/")
	u.signIn("admin@example.com", adminPassword)
	u.open("/admin")
	u.click(`.tabs a[href="/admin/audit"]`)
	u.waitJS(`document.querySelector('#audit tr[data-action="key.created"]') && document.querySelector('#audit tr[data-action="auth.login_failed"]')`)
	rows := evalJS[[]string](u, rowsJS)
	iKey := slices.Index(rows, created[0]+" key.created success")
	iFailed := slices.Index(rows, failed[0]+" auth.login_failed failure")
	if iKey < 0 || iFailed < 0 || iKey > iFailed {
		t.Fatalf("audit rows %q: want %s (key.created, success) above %s (auth.login_failed, failure)", rows, created[0], failed[0])
	}
	seqs := evalJS[[]int](u, `[...document.querySelectorAll("#audit tbody tr[data-id]")].map(tr => Number(tr.dataset.seq))`)
	if !slices.IsSortedFunc(seqs, func(a, b int) int { return b - a }) {
		t.Fatalf("rows are not newest first: seqs %v", seqs)
	}
	// Details are text: the key's name is shown, never parsed.
	u.click(`#audit tr[data-id="` + created[0] + `"] .audit-toggle`)
	if got := u.text(`#audit tr[data-id="` + created[0] + `"] + tr.audit-detail .audit-details`); !strings.Contains(got, `"name": "<img src=x onerror=\"window.__xss=1\">"`) {
		t.Fatalf("key.created details = %q", got)
	}
	if n := u.nodeCount("#audit img"); n != 0 || evalJS[bool](u, `window.__xss === 1`) {
		t.Fatalf("markup in an audit record became %d elements", n)
	}
	u.click(`#audit tr[data-id="` + created[0] + `"] .audit-toggle`) // closes
	u.click(`#audit tr[data-id="` + failed[0] + `"] .audit-toggle`)
	u.waitJS(`document.querySelectorAll("#audit tr.audit-detail").length === 1`)
	evalJS[bool](u, `(() => { document.querySelector(".wide-page").scrollTop = 0; return true })()`)
	u.screenshot("admin-audit", 1280, 800)
	u.screenshot("admin-audit-360", 360, 740)

	// The action filter: only key.created, and the view is a link.
	u.fill(`#audit-filters input[name=action]`, "key.created")
	u.click(`#audit-filters button[type=submit]`)
	u.waitJS(`location.search === "?action=key.created" && document.querySelectorAll("#audit tbody tr[data-id]").length === 1`)
	if got := evalJS[[]string](u, rowsJS); !slices.Equal(got, []string{created[0] + " key.created success"}) {
		t.Fatalf("filtered by key.created: %q", got)
	}
	// The outcome filter: only failures.
	u.fill(`#audit-filters input[name=action]`, "")
	evalJS[bool](u, `(() => { const s = document.querySelector("#audit-filters select[name=outcome]"); s.value = "failure"; return true })()`)
	u.click(`#audit-filters button[type=submit]`)
	u.waitJS(`location.search === "?outcome=failure" && document.querySelector('#audit tr[data-id="` + failed[0] + `"]') && !document.querySelector('#audit tr[data-outcome="success"]')`)
	if got := evalJS[[]string](u, rowsJS); !slices.Contains(got, failed[0]+" auth.login_failed failure") {
		t.Fatalf("filtered by failure: %q", got)
	}

	// "Load more" with 3 records a page: 8 key.created records, 3 pages,
	// no record skipped or repeated.
	for i := range 7 {
		if _, err := admin.CreateKey(ctx, httpapi.CreateKeyRequest{Name: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := e.auditIDs("action=key.created")
	if len(want) != 8 {
		t.Fatalf("%d key.created records", len(want))
	}
	u.open("/admin/audit?action=key.created&limit=3")
	for _, n := range []int{3, 6, 8} {
		u.waitJS(fmt.Sprintf(`document.querySelectorAll("#audit tbody tr[data-id]").length === %d && !document.querySelector("#audit-more").disabled`, n))
		if n < 8 {
			u.click("#audit-more")
		}
	}
	u.waitJS(`document.querySelector("#audit-more").hidden`)
	got := evalJS[[]string](u, `[...document.querySelectorAll("#audit tbody tr[data-id]")].map(tr => tr.dataset.id)`)
	if !slices.Equal(got, want) {
		t.Fatalf("paged ids %v, the API has %v", got, want)
	}
	if v := evalJS[string](u, `document.querySelector("#audit-filters input[name=action]").value`); v != "key.created" {
		t.Fatalf("the action filter from the link shows %q", v)
	}

	// The account page: the admin's own records include its key.
	u.open("/account")
	u.click(`.tabs a[href="/account/activity"]`)
	u.waitJS(`!!document.querySelector('#audit tr[data-id="` + created[0] + `"]')`)
	if n := u.nodeCount("#audit-filters"); n != 0 {
		t.Fatal("the account's activity has the admin filters")
	}

	// A contributor: no admin link, and /admin/audit shows the API's 403.
	c := newUI(t, e.url)
	c.open("/")
	c.signIn("bob@example.com", adminPassword)
	c.waitJS(`!!document.querySelector("#composer")`)
	if n := c.nodeCount(`a[href^="/admin"]`); n != 0 {
		t.Fatalf("a contributor sees %d admin links", n)
	}
	c.open("/admin/audit")
	if got := c.text(".panel .error"); got != "Requires admin role" {
		t.Fatalf("/admin/audit for a contributor shows %q", got)
	}
	if n := c.nodeCount("#audit"); n != 0 {
		t.Fatal("a contributor sees the audit table")
	}
	if denied := waitRecords(t, func() []string { return e.auditIDs("action=access.denied&actor_id=" + url.QueryEscape(bob.ID)) }, 1); len(denied) != 1 {
		t.Fatalf("access.denied records of the contributor: %v", denied)
	}
	// Its own activity: its sign-in, nothing of the admin's keys.
	c.open("/account/activity")
	c.waitJS(`!!document.querySelector('#audit tr[data-action="auth.login"]')`)
	if n := c.nodeCount(`#audit tr[data-action="key.created"]`); n != 0 {
		t.Fatalf("the contributor sees %d key.created records", n)
	}
	c.run(chromedp.EmulateViewport(360, 740))
	c.waitJS(`document.documentElement.scrollWidth <= 360`)
}

// waitRecords polls list until it has n entries (records written in batches).
func waitRecords(t *testing.T, list func() []string, n int) []string {
	t.Helper()
	for range 100 {
		if got := list(); len(got) >= n {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("fewer than %d records after waiting", n)
	return nil
}
