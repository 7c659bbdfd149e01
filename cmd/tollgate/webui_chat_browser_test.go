package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// signedInUI is a browser signed in as a new contributor (the admin is
// created through the API) at the chat page.
func signedInUI(t *testing.T, e *uiEnv, role string) *ui {
	t.Helper()
	admin := e.admin()
	email := "admin@example.com"
	if role != "admin" {
		email = role + "@example.com"
		e.user(admin, email, role)
	}
	u := newUI(t, e.url)
	u.open("/")
	u.signIn(email, adminPassword)
	u.waitJS(`!!document.querySelector("#composer")`)
	return u
}

// newChat opens a new chat with model picked.
func (u *ui) newChat(model string) {
	u.t.Helper()
	u.open("/")
	u.waitJS(`!!document.querySelector("#model option")`)
	evalJS[bool](u, `(() => { const s = document.querySelector("#model"); s.value = `+jsString(model)+`; return s.value === `+jsString(model)+` })()`)
}

// startChat picks model and sends the first message of a new chat.
func (u *ui) startChat(model, text string) {
	u.t.Helper()
	u.newChat(model)
	u.send(text)
	u.waitJS(`location.pathname.startsWith("/c/")`)
}

// lastReply waits until the last message is an assistant reply with status
// and returns its text.
func (u *ui) lastReply(status string) string {
	u.t.Helper()
	// The last message of all, so a reply still to be rendered after the
	// latest user message is waited for, not an earlier one taken.
	sel := `[...document.querySelectorAll("#messages .msg")].pop()`
	u.waitJS(`(() => { const m = ` + sel + `; return !!m && m.classList.contains("assistant") && m.dataset.status === ` + jsString(status) + ` })()`)
	return evalJS[string](u, sel+`.querySelector(".content").textContent`)
}

// TestWebUIChatStreams: the reply of a slow model appears word by word
// (the text of the reply changes several times before the stream ends).
func TestWebUIChatStreams(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	u.newChat("slow")
	// Record every distinct text the reply shows while it streams.
	evalJS[bool](u, `(() => {
		window.__seen = new Set();
		new MutationObserver(() => {
			const m = [...document.querySelectorAll("#messages .msg.assistant")].pop();
			if (m && m.dataset.status === "pending") window.__seen.add(m.querySelector(".content").textContent);
		}).observe(document.body, {subtree: true, childList: true, characterData: true});
		return true })()`)
	u.send("Count for me")
	u.waitJS(`location.pathname.startsWith("/c/")`)
	got := u.lastReply("complete")
	want := "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
	if got != want {
		t.Fatalf("reply = %q, want %q", got, want)
	}
	seen := evalJS[[]string](u, `[...window.__seen]`)
	var partial int
	for _, s := range seen {
		if s != "" && s != want && strings.HasPrefix(want, s) {
			partial++
		}
	}
	if partial < 4 {
		t.Fatalf("the reply showed %d partial texts while streaming (%q), want several", partial, seen)
	}
	u.screenshot("chat-360", 360, 740)
}

// TestWebUIChatStop: Stop cuts the reply; after a reload it shows as
// incomplete with the text received so far.
func TestWebUIChatStop(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	u.startChat("hang", "Go slowly")
	u.waitJS(`(() => { const m = [...document.querySelectorAll("#messages .msg.assistant")].pop(); return !!m && m.querySelector(".content").textContent === "one two three" })()`)
	u.click("#stop")
	u.waitJS(`!!document.querySelector("#send")`)
	u.run(chromedpReload())
	if got := u.lastReply("incomplete"); got != "one two three" {
		t.Fatalf("stopped reply = %q, want the text received before Stop", got)
	}
	if n := u.text(".msg-notice"); !strings.Contains(n, "Incomplete") {
		t.Fatalf("notice = %q", n)
	}
}

// TestWebUIChatEditBranches: editing a message posts a sibling, and the
// branch navigation shows 2/2, then 1/2 after going back.
func TestWebUIChatEditBranches(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	u.startChat("echo", "hello")
	u.lastReply("complete")
	u.send("first version")
	u.waitJS(`document.querySelectorAll("#messages .msg.assistant").length === 2`)
	if got := u.lastReply("complete"); got != "first version" {
		t.Fatalf("echo reply = %q", got)
	}
	last := `[...document.querySelectorAll("#messages .msg.user")].pop()`
	u.run(chromedp.Click(chromedp.JSPath(last + `.querySelector(".edit")`)))
	u.fill("#messages .edit-box", "second version")
	u.click("#messages .save")
	pos := last + `.querySelector(".branch-pos")`
	u.waitJS(`(() => { const p = ` + pos + `; return !!p && p.textContent === "2/2" })()`)
	if got := u.lastReply("complete"); got != "second version" {
		t.Fatalf("reply on the new branch = %q", got)
	}
	u.run(chromedp.Click(chromedp.JSPath(last + `.querySelector('[aria-label="Previous branch"]')`)))
	u.waitJS(pos + `.textContent === "1/2"`)
	if got := evalJS[string](u, last+`.querySelector(".plain").textContent`); got != "first version" {
		t.Fatalf("branch 1/2 shows %q", got)
	}
	// The branches survive a reload (they are the stored tree).
	u.run(chromedpReload())
	u.waitJS(`(() => { const p = ` + pos + `; return !!p && p.textContent === "2/2" })()`)
}

// TestWebUISearchOpensConversation: a word found by the sidebar search is
// highlighted, and the hit opens its conversation at the message.
func TestWebUISearchOpensConversation(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	u.startChat("echo", "the quokka smiles")
	u.lastReply("complete")
	conv := u.path()
	u.startChat("echo", "something else")
	u.lastReply("complete")
	u.fill("#search", "quokka")
	u.waitJS(`!!document.querySelector(".search-results .hit mark")`)
	if got := u.text(".search-results .hit mark"); got != "quokka" {
		t.Fatalf("highlight = %q", got)
	}
	u.click(".search-results .hit")
	u.waitJS(`!!document.querySelector("#messages .msg.found")`)
	if p := u.path(); p != conv {
		t.Fatalf("search opened %q, want %q", p, conv)
	}
}

// TestWebUIXSSShownAsText: markup in a user message and in a model reply
// (the echo model repeats it) is shown as text: no dialog, no element.
func TestWebUIXSSShownAsText(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	payload := `<img src=x onerror=alert(1)> **<script>alert(2)</script>** [x](javascript:alert(3))`
	u.startChat("echo", payload)
	if got := u.lastReply("complete"); !strings.Contains(got, "<img src=x onerror=alert(1)>") || !strings.Contains(got, "<script>alert(2)</script>") {
		t.Fatalf("reply text = %q", got)
	}
	if got := u.text("#messages .msg.user .plain"); got != payload {
		t.Fatalf("user message text = %q, want %q", got, payload)
	}
	u.run(chromedpReload())
	u.lastReply("complete")
	if n := u.nodeCount("#messages img, #messages script, #messages a[href^=javascript], #messages [onerror]"); n != 0 {
		t.Fatalf("%d elements from message content", n)
	}
	if n := u.dialogCount(); n != 0 {
		t.Fatalf("%d dialogs opened", n)
	}
}

// TestWebUISecondTabSeesReplyStream: a second tab on the same
// conversation sees the reply stream in through the live event stream
// (partial texts before the end), then the stored reply.
func TestWebUISecondTabSeesReplyStream(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	a := signedInUI(t, e, "contributor")
	a.startChat("echo", "hello")
	a.lastReply("complete")
	conv := a.path()

	b := newUI(t, e.url)
	b.open(conv)
	b.signIn("contributor@example.com", adminPassword)
	b.waitJS(`document.querySelectorAll("#messages .msg.assistant").length === 1`)
	evalJS[bool](b, `(() => {
		window.__seen = new Set();
		new MutationObserver(() => {
			const m = [...document.querySelectorAll("#messages .msg.assistant")].pop();
			if (m) window.__seen.add(m.querySelector(".content").textContent);
		}).observe(document.querySelector("#messages"), {subtree: true, childList: true, characterData: true});
		return true })()`)
	evalJS[bool](a, `(() => { const s = document.querySelector("#model"); s.value = "slow"; s.dispatchEvent(new Event("change")); return true })()`)
	a.send("count again")
	want := "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
	b.waitJS(`(() => { const m = [...document.querySelectorAll("#messages .msg.assistant")].pop(); return m.dataset.status === "complete" && m.querySelector(".content").textContent === ` + jsString(want) + ` })()`)
	var partial int
	for _, s := range evalJS[[]string](b, `[...window.__seen]`) {
		if s != "" && s != want && strings.HasPrefix(want, s) {
			partial++
		}
	}
	if partial < 3 {
		t.Fatalf("the second tab showed %d partial texts, want the reply streaming in", partial)
	}
}
