package main

import (
	"testing"

	"github.com/tollgate/tollgate/internal/client"
)

// TestWebUIPresence: the owner of a shared conversation sees a participant
// who opens it appear in the header as online (presence.update on the
// live stream), named by its messages once it posts; nobody is listed
// before that, and the owner never lists itself. Bob's message is
// labelled with his name on the owner's page (and has no Edit there).
func TestWebUIPresence(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	a := signedInUI(t, e, "contributor")
	lr, err := client.New(e.url).Login(t.Context(), "admin@example.com", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	bob := e.user(client.New(e.url).WithToken(lr.AccessToken), "bob@example.com", "contributor")

	a.startChat("echo", "hello shared")
	a.lastReply("complete")
	conv := a.path()
	a.click("#participants")
	a.fill(".dialog input[type=email]", "bob@example.com")
	evalJS[bool](a, `(() => { const s = document.querySelector(".dialog select"); s.value = "writer"; return true })()`)
	a.click(".dialog form button[type=submit]")
	a.waitJS(`[...document.querySelectorAll(".dialog .people code")].some(c => c.textContent === ` + jsString(bob.ID) + `)`)
	a.click(`.dialog button[aria-label="Close"]`)
	if n := a.nodeCount("#presence .presence-user"); n != 0 || !evalJS[bool](a, `document.querySelector("#presence").hidden`) {
		t.Fatalf("before anyone joins the header lists %d people", n)
	}

	b := newUI(t, e.url)
	b.open(conv)
	b.signIn("bob@example.com", adminPassword)
	b.waitJS(`document.querySelectorAll("#messages .msg").length === 2`)
	sel := `#presence .presence-user[data-user="` + bob.ID + `"]`
	a.waitJS(`!document.querySelector("#presence").hidden && !!document.querySelector(` + jsString(sel) + `)`)
	if got, want := a.text(sel), "Participant "+bob.ID[len(bob.ID)-4:]; got != want {
		t.Fatalf("presence before bob posts = %q, want %q", got, want)
	}
	b.send("hi from bob")
	a.waitJS(`document.querySelector(` + jsString(sel) + `).textContent === "bob"`)
	if n := a.nodeCount("#presence .presence-user"); n != 1 {
		t.Fatalf("the header lists %d people, want bob only", n)
	}
	// Bob's message on the owner's page carries his name and no Edit.
	last := `[...document.querySelectorAll("#messages .msg.user")].pop()`
	if got := evalJS[string](a, last+`.querySelector(".who-line").firstChild.textContent`); got != "bob" {
		t.Fatalf("bob's message is labelled %q on the owner's page", got)
	}
	if n := evalJS[int](a, last+`.querySelectorAll(".edit").length`); n != 0 {
		t.Fatal("the owner may Edit bob's message")
	}
	if got := evalJS[string](b, `[...document.querySelectorAll("#messages .msg.user")].pop().querySelector(".who-line").firstChild.textContent`); got != "You" {
		t.Fatalf("bob's own message is labelled %q on his page", got)
	}
	a.screenshot("chat-presence", 1024, 480)
}
