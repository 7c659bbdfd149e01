package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestWebUIFirstRun: on a server that requires sign-in and has no user,
// the UI shows setup; the first admin lands on chat; sign out leads to
// the sign-in page; a wrong password shows the API's message; signing in
// again lands on chat.
func TestWebUIFirstRun(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := newUI(t, e.url)
	u.open("/")
	u.waitJS(`location.pathname === "/setup"`)
	if got := u.text("h1"); got != "Create the first admin" {
		t.Fatalf("setup heading = %q", got)
	}
	u.screenshot("setup", 1024, 640)
	u.fill("input[name=email]", "admin@example.com")
	u.fill("input[name=display_name]", "Ada Admin")
	u.fill("input[name=password]", adminPassword)
	u.click("form button[type=submit]")
	u.waitJS(`location.pathname === "/" && !!document.querySelector("#composer")`)
	if got := u.text(".who-name"); got != "Ada Admin" {
		t.Fatalf("header name = %q", got)
	}
	if got := u.text(".badge.role"); got != "admin" {
		t.Fatalf("header role = %q", got)
	}

	u.click(".menu summary")
	u.click("#sign-out")
	u.waitJS(`location.pathname === "/login" && !!document.querySelector("input[name=email]")`)
	// The session is gone on the server too.
	if st := evalJS[int](u, `fetch("/api/auth/me").then(r => r.status)`); st != http.StatusUnauthorized {
		t.Fatalf("/api/auth/me after sign out = %d", st)
	}

	u.fill("input[name=email]", "admin@example.com")
	u.fill("input[name=password]", "wrong password!")
	u.click("form button[type=submit]")
	want := e.do("POST", "/api/auth/sessions", "", map[string]string{"email": "admin@example.com", "password": "wrong password!"})
	msg := want.body["error"].(map[string]any)["message"].(string)
	u.waitJS(`!!document.querySelector(".form-msg .error")`)
	if got := u.text(".form-msg .error"); got != msg {
		t.Fatalf("wrong-password message = %q, want the envelope's %q", got, msg)
	}
	u.screenshot("login", 1024, 640)
	u.signIn("admin@example.com", adminPassword)
	u.waitJS(`!!document.querySelector("#composer")`)
	if p := u.path(); p != "/" {
		t.Fatalf("after sign in at %q, want /", p)
	}
}

// TestWebUIOpenMode: a fresh server on loopback is open (auth.mode auto):
// the UI shows chat with no sign-in page, and /login leads to chat.
func TestWebUIOpenMode(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	u := newUI(t, e.url)
	u.open("/login")
	u.waitJS(`location.pathname === "/" && !!document.querySelector("#composer")`)
	if n := u.nodeCount("input[type=password]"); n != 0 {
		t.Fatalf("%d password fields in open mode", n)
	}
	if got := u.text(".badge.role"); got != "admin" {
		t.Fatalf("open mode role = %q, want admin (the local principal)", got)
	}
	if n := u.nodeCount("#sign-out"); n != 0 {
		t.Fatal("open mode shows a sign-out button")
	}
	if !strings.Contains(u.text(".menu-items"), "Open mode") {
		t.Fatal("open mode is not said in the menu")
	}
}
