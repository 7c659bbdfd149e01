package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tollgate/tollgate/internal/client"
)

// completion posts one chat completion with key and returns the status.
func completion(t *testing.T, base, key string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/v1/chat/completions",
		strings.NewReader(`{"model":"echo","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebUIAPIKey: a key created in the UI shows its secret once, the
// secret works against /v1/chat/completions, it is gone after a reload
// and stored nowhere in the browser, and revoking it in the UI makes it
// fail.
func TestWebUIAPIKey(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	u := signedInUI(t, e, "contributor")
	u.open("/account/keys")
	u.click("#create-key")
	u.fill("#key-name", "ci key")
	u.click("#key-submit")
	u.waitJS(`!!document.querySelector("#new-key-secret")`)
	secret := evalJS[string](u, `document.querySelector("#new-key-secret").value`)
	if !strings.HasPrefix(secret, "tg_") || len(secret) != 46 {
		t.Fatalf("shown secret = %q", secret)
	}
	u.screenshot("account-keys", 1024, 640)
	if st := completion(t, e.url, secret); st != http.StatusOK {
		t.Fatalf("completion with the UI's key = %d", st)
	}
	u.run(chromedpReload())
	u.waitJS(`!!document.querySelector("#keys .revoke")`)
	if n := u.nodeCount("#new-key-secret"); n != 0 {
		t.Fatal("the secret is shown again after a reload")
	}
	stored := evalJS[string](u, `JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie, document.documentElement.outerHTML])`)
	if strings.Contains(stored, secret[3:]) {
		t.Fatal("the key's secret is stored in the browser")
	}
	// Rotate without grace: the new secret is shown once and works, the
	// old one stops at once.
	u.click("#keys .rotate")
	u.fill(".dialog input[type=number]", "0")
	u.click(".dialog button[type=submit]")
	u.waitJS(`!!document.querySelector("#new-key-secret") && document.querySelector("#new-key-secret").value !== ` + jsString(secret))
	rotated := evalJS[string](u, `document.querySelector("#new-key-secret").value`)
	if st := completion(t, e.url, rotated); st != http.StatusOK {
		t.Fatalf("completion with the rotated key = %d", st)
	}
	if st := completion(t, e.url, secret); st != http.StatusUnauthorized {
		t.Fatalf("completion with the old secret after rotation = %d, want 401", st)
	}
	secret = rotated
	u.click("#keys .revoke")
	u.waitJS(`!!document.querySelector("#keys .badge.bad")`)
	if st := completion(t, e.url, secret); st != http.StatusUnauthorized {
		t.Fatalf("completion with the revoked key = %d, want 401", st)
	}
}

// TestWebUIRoles: a contributor sees no admin link and the API answers
// its browser 403 on admin routes; an admin changes a role in the UI and
// the API shows it.
func TestWebUIRoles(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	admin := e.admin()
	bob := e.user(admin, "bob@example.com", "contributor")

	c := newUI(t, e.url)
	c.open("/")
	c.signIn("bob@example.com", adminPassword)
	c.waitJS(`!!document.querySelector("#composer")`)
	if n := c.nodeCount(`a[href^="/admin"]`); n != 0 {
		t.Fatalf("a contributor sees %d admin links", n)
	}
	for _, path := range []string{"/api/admin/users", "/api/admin/keys", "/api/admin/usage"} {
		got := evalJS[string](c, `fetch(`+jsString(path)+`).then(async r => r.status + " " + (await r.json()).error.code)`)
		if got != "403 insufficient_role" {
			t.Fatalf("GET %s from the contributor's browser = %q", path, got)
		}
	}
	c.open("/admin")
	if got := c.text(".panel .error"); got != "Requires admin role" {
		t.Fatalf("/admin for a contributor shows %q", got)
	}

	a := newUI(t, e.url)
	a.open("/")
	a.signIn("admin@example.com", adminPassword)
	a.click(`.top-links a[href="/admin"]`)
	sel := `select[data-email="bob@example.com"]`
	a.waitJS(`!!document.querySelector(` + jsString(sel) + `)`)
	a.screenshot("admin-users", 1024, 640)
	evalJS[bool](a, `(() => { const s = document.querySelector(`+jsString(sel)+`); s.value = "viewer"; s.dispatchEvent(new Event("change")); return true })()`)
	a.waitJS(`!!document.querySelector(".panel .ok")`)
	users, err := admin.ListUsers(t.Context(), client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, us := range users.Data {
		if us.ID == bob.ID && us.Role != "viewer" {
			t.Fatalf("bob's role via the API = %q, want viewer", us.Role)
		}
	}
}

// TestWebUISessionExpiredSignsInAndBack: when the server ends the session,
// the next action leads to the sign-in page and, after signing in, back.
func TestWebUISessionExpiredSignsInAndBack(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	admin := e.admin()
	carol := e.user(admin, "carol@example.com", "contributor")
	u := newUI(t, e.url)
	u.open("/account/sessions")
	u.signIn("carol@example.com", adminPassword)
	u.waitJS(`location.pathname === "/account/sessions" && !!document.querySelector(".panel table")`)
	r := e.do("POST", "/api/admin/users/"+carol.ID+"/sessions/revoke", e.adminToken, nil)
	wantStatus(t, r, http.StatusNoContent)
	u.click(`.tabs a[href="/account/keys"]`)
	u.waitJS(`location.pathname === "/login"`)
	if p := u.path(); p != "/login?next=%2Faccount%2Fkeys" {
		t.Fatalf("redirected to %q", p)
	}
	u.signIn("carol@example.com", adminPassword)
	u.waitJS(`location.pathname === "/account/keys" && !!document.querySelector("#create-key")`)
}

// TestWebUICSRFFromAnotherOrigin: a page on another origin that posts a
// form to the API with the victim's cookie is refused (403 csrf_failed)
// and creates nothing.
func TestWebUICSRFFromAnotherOrigin(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required")
	e.admin()
	u := newUI(t, e.url)
	u.open("/")
	u.signIn("admin@example.com", adminPassword)
	u.waitJS(`!!document.querySelector("#composer")`)
	page := `<!doctype html><form method="post" enctype="text/plain" action="` + e.url + `/api/conversations">` +
		`<input name='{"title":"pwned","x":"' value='"}'></form><script>document.forms[0].submit()</script>`
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(evil.Close)
	// Another port of the same host: another origin but the same site, so
	// the SameSite=Lax cookie goes along and only the CSRF check stands.
	u.run(chromedp.Navigate(evil.URL))
	u.waitJS(`location.pathname === "/api/conversations"`)
	body := evalJS[string](u, `document.body.innerText`)
	if !strings.Contains(body, `"code":"csrf_failed"`) {
		t.Fatalf("cross-origin form answer = %s", body)
	}
	convs := e.do("GET", "/api/conversations", e.adminToken, nil)
	if data := convs.body["data"].([]any); len(data) != 0 {
		t.Fatalf("the forged post created %d conversations", len(data))
	}
}

// TestWebUIRegister: with registration on, the sign-in page links to
// Register; a new account is signed in with the default role.
func TestWebUIRegister(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, "TOLLGATE_AUTH_MODE=required", "TOLLGATE_AUTH_REGISTRATION_ENABLED=true")
	e.admin()
	u := newUI(t, e.url)
	u.open("/")
	u.waitJS(`location.pathname === "/login"`)
	u.click(`a[href="/register"]`)
	u.waitJS(`location.pathname === "/register" && !!document.querySelector("input[name=display_name]")`)
	u.fill("input[name=email]", "dora@example.com")
	u.fill("input[name=display_name]", "Dora")
	u.fill("input[name=password]", "short")
	u.click("form button[type=submit]")
	want := e.do("POST", "/api/auth/register", "", map[string]string{"email": "x@example.com", "password": "short"})
	u.waitJS(`!!document.querySelector(".form-msg .error")`)
	if got, msg := u.text(".form-msg .error"), want.body["error"].(map[string]any)["message"]; got != msg {
		t.Fatalf("weak password message = %q, want %q", got, msg)
	}
	u.fill("input[name=password]", adminPassword)
	u.click("form button[type=submit]")
	u.waitJS(`!!document.querySelector("#composer")`)
	if got := u.text(".badge.role"); got != "contributor" {
		t.Fatalf("registered role = %q", got)
	}
}
