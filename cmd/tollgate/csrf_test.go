package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestCSRFOnEveryUnsafeCookieRequest: every registered route with an
// unsafe method, called with a valid session cookie but without the CSRF
// token, with a wrong one, from a cross-site Origin or with
// Sec-Fetch-Site: cross-site answers 403 csrf_failed and changes nothing;
// the same requests with a Bearer token are not CSRF-checked.
func TestCSRFOnEveryUnsafeCookieRequest(t *testing.T) {
	e := newAuthEnv(t, "TOLLGATE_SERVER_PUBLIC_URL=http://gw.example.com", "TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=1000")
	admin := e.setup()
	b, _ := e.sessionLogin("admin@example.com", adminPassword)
	n := 0
	for _, rt := range e.app.api.Routes() {
		if rt.Access.Public || rt.Method == "GET" || rt.Method == "HEAD" {
			continue
		}
		n++
		path := strings.NewReplacer("{id}", missingID).Replace(rt.Path)
		cookie := b.name + "=" + b.cookie
		for name, hdr := range map[string][]string{
			"NoToken":          {"Cookie", cookie},
			"WrongToken":       {"Cookie", cookie, "X-CSRF-Token", b.csrf[:42] + "x"},
			"OtherSessionsTok": {"Cookie", cookie, "X-CSRF-Token", strings.Repeat("A", 43)},
			"CrossSiteOrigin":  {"Cookie", cookie, "X-CSRF-Token", b.csrf, "Origin", "https://evil.example"},
			"SecFetchSite":     {"Cookie", cookie, "X-CSRF-Token", b.csrf, "Sec-Fetch-Site", "cross-site"},
			"SameSiteSubdomain": {"Cookie", cookie, "X-CSRF-Token", b.csrf, "Sec-Fetch-Site", "same-site",
				"Origin", "http://other.gw.example.com"},
		} {
			r := e.do(rt.Method, path, "", "{}", hdr...)
			wantError(t, r, 403, "csrf_failed", "")
			if _, typ, _ := r.err(); typ != "permission_error" {
				t.Fatalf("%s %s: type %s", rt.Pattern(), name, typ)
			}
			if len(r.header["Set-Cookie"]) != 0 {
				t.Fatalf("%s %s: a refused request set cookies", rt.Pattern(), name)
			}
		}
		// Bearer: never csrf_failed, whatever the Origin.
		r := e.do(rt.Method, path, admin, "{}", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if code, _, _ := r.err(); code == "csrf_failed" {
			t.Fatalf("%s with a Bearer token: %s", rt.Pattern(), r.raw)
		}
	}
	if n < 20 {
		t.Fatalf("only %d unsafe routes checked", n)
	}
	// The session survived every refusal; GET needs no token.
	wantStatus(t, b.do("GET", "/api/auth/me", nil, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), 200)
	// The token, same origin: passes; the public_url origin behind a proxy (another Host) too.
	wantStatus(t, b.do("POST", "/test/contribute", nil), 200)
	wantStatus(t, b.do("POST", "/test/contribute", nil, "Sec-Fetch-Site", "same-origin"), 200)
	wantStatus(t, b.do("POST", "/test/contribute", nil, "Origin", "http://gw.example.com", "Sec-Fetch-Site", "same-site"), 200)
	wantStatus(t, b.do("POST", "/test/contribute", nil, "Origin", e.url), 200)
	// GET never changes state: a GET to an unsafe route's path is 405.
	wantError(t, b.do("GET", "/api/auth/logout", nil), 405, "method_not_allowed", "")
	wantStatus(t, b.do("GET", "/api/auth/me", nil), 200)
	// Login from another site is refused (login CSRF).
	r := e.do("POST", "/api/auth/sessions", "", map[string]string{"email": "admin@example.com", "password": adminPassword}, "Sec-Fetch-Site", "cross-site")
	wantError(t, r, 403, "csrf_failed", "")
	_ = http.StatusOK
}
