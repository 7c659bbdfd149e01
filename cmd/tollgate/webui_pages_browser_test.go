package main

import (
	"net/http"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/webui"
)

// TestWebUIEveryPage visits every page as an admin, at desktop width and
// at 360 px: each renders its heading, nothing is wider than the
// viewport, and no page logs a console error or an exception (CSP
// violations included; newUI's cleanup checks). With
// TOLLGATE_UPDATE_SCREENSHOTS=1 it writes the screenshots of docs/web-ui.md.
func TestWebUIEveryPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "admin")
	u.startChat("markdown", "Show me some Go")
	u.lastReply("complete")
	if got := u.text("#messages .msg.assistant .code pre"); got != `fmt.Println("hello")` {
		t.Fatalf("code block = %q", got)
	}
	if got := u.text("#messages .msg.assistant .code-head span"); got != "go" {
		t.Fatalf("code block language = %q", got)
	}
	if n := u.nodeCount("#messages .msg.assistant li"); n != 2 {
		t.Fatalf("%d list items", n)
	}
	chat := u.path()
	// A usage record for the charts (written in batches).
	if st := completion(t, e.url, e.adminToken); st != 200 {
		t.Fatalf("completion = %d", st)
	}
	pages := []struct{ path, ready, shot string }{
		{chat, `#messages .msg.assistant .code`, "chat-code"},
		{"/", `#composer`, ""},
		{"/account", `.facts`, ""},
		{"/account/sessions", `.panel table`, ""},
		{"/account/keys", `#create-key`, ""},
		{"/account/usage", `.chart-box`, "usage"},
		{"/admin/users", `#users tbody tr`, ""},
		{"/admin/keys", `.panel form`, ""},
		{"/admin/rate-limits", `.panel table`, ""},
		{"/admin/budgets", `.panel table`, ""},
		{"/admin/usage", `.chart-box`, "admin-usage"}, // only the 360 px one is in the docs
		{"/admin/audit", `#audit tbody tr`, ""},
		{"/account/activity", `#audit tbody tr`, ""},
	}
	for _, width := range []int64{1280, 360} {
		u.run(chromedp.EmulateViewport(width, 800))
		for _, p := range pages {
			u.open(p.path)
			u.waitJS(`!!document.querySelector(` + jsString(p.ready) + `)`)
			if w := evalJS[int](u, `document.documentElement.scrollWidth`); w > int(width) {
				t.Errorf("%s at %d px is %d px wide", p.path, width, w)
			}
			if p.shot != "" {
				name := p.shot
				h := int64(640)
				if width == 360 {
					name += "-360"
					h = 740
				}
				u.screenshot(name, map[bool]int64{true: 1024, false: 360}[width > 360], h)
				u.run(chromedp.EmulateViewport(width, 800))
			}
		}
	}
	// The drawer opens the conversation list at 360 px.
	u.run(chromedp.EmulateViewport(360, 740))
	u.open(chat)
	u.waitJS(`!!document.querySelector("#composer")`)
	u.click("#drawer-toggle")
	u.waitJS(`document.body.classList.contains("drawer-open")`)
	u.screenshot("chat-drawer-360", 360, 740)

	// The dark theme (prefers-color-scheme) renders the same pages.
	if _, err := chromedp.Call(u.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	u.open(chat)
	u.waitJS(`!!document.querySelector("#messages .code")`)
	if bg := evalJS[string](u, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(21, 24, 28)" {
		t.Fatalf("dark theme body background = %q", bg)
	}
	u.screenshot("chat-dark", 1024, 640)
}

// TestWebUIShareLink: the owner creates a share link in the dialog; the
// public page shows the conversation to a browser that is not signed in.
func TestWebUIShareLink(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	u.startChat("echo", "shared words")
	u.lastReply("complete")
	u.click("#share")
	u.click(".dialog .btn.primary")
	u.waitJS(`!!document.querySelector("#share-link")`)
	link := evalJS[string](u, `document.querySelector("#share-link").value`)
	anon := newUI(t, e.url)
	anon.run(chromedp.Navigate(link))
	anon.waitJS(`document.querySelectorAll(".share .msg").length === 2`)
	if got := anon.text(".share .msg.user .plain"); got != "shared words" {
		t.Fatalf("shared page shows %q", got)
	}
}

// TestWebUIServedByApp: the real app serves the UI's shell at / and at a
// client-side route with the CSP of SPEC 11, and its assets, while /api
// and /v1 keep their JSON 404s (no browser needed).
func TestWebUIServedByApp(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, "TOLLGATE_AUTH_MODE=required")
	for _, path := range []string{"/", "/c/conv_x", "/assets/js/app.js"} {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != webui.CSP ||
			resp.Header.Get("Referrer-Policy") != "same-origin" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s = %d, headers %v", path, resp.StatusCode, resp.Header)
		}
	}
	wantError(t, e.do("GET", "/api/nope", "", nil), 404, "not_found", "")
	wantError(t, e.do("GET", "/v1/nope", "", nil), 404, "not_found", "")
}
