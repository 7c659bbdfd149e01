package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// The credential columns of the access matrix, in the order of the cells
// strings below. "+" means the request sends X-End-User-Id: u1.
var matrixCreds = []string{
	"anon",      // no credential
	"viewer",    // a viewer's login JWT
	"contrib",   // a contributor's login JWT
	"admin",     // an admin's login JWT
	"key.c",     // the contributor's plain API key
	"key.a",     // the admin's plain API key
	"app.a+",    // the admin's app key (end_user_mode, role admin), with the header
	"app.a",     // the same, without the header
	"app.c+",    // the contributor's app key (role contributor), with the header
	"app.c",     // the same, without the header
	"static",    // a static token, role admin, not end_user_mode
	"static.e+", // a static token, role contributor, end_user_mode, with the header
	"static.e",  // the same, without the header
	"xjwt.app+", // a JWT exchanged from the admin's app key, with the header
	"xjwt.app",  // the same, without the header
	"xjwt.key",  // a JWT exchanged from the admin's plain key
	// Browser sessions of a viewer, a contributor and an admin (other users
	// than the JWT columns', so a JWT call never ends them), sending the
	// CSRF token on unsafe methods. Their cells are the viewer, contributor
	// and admin JWT cells of the row: the cookie is a credential like a
	// login JWT (cookieOK lists the rows whose handler answers a cookie
	// differently).
	"cookie.v",
	"cookie.c",
	"cookie.a",
}

// cookieOK is the reach outcome for the cookie columns where it differs
// from the row's (refresh rotates a session; a JWT has none).
var cookieOK = map[string]outcome{
	"POST /api/auth/refresh": {200, ""},
}

// Cell outcomes. "ok" is the row's reach outcome: the request passed
// authentication, the role check and the principal rules, and the handler
// answered (the rows use bodies and unknown ids that answer without side
// effects where they can).
const (
	cOK  = "ok"  // the row's reach outcome
	c401 = "401" // 401 missing_authorization
	c403 = "403" // 403 insufficient_role
	cEU  = "eu"  // 400 missing_field headers.x-end-user-id
	cInv = "inv" // 401 invalid_authorization
	cTok = "tok" // 200 (token exchange issued a JWT)
)

type outcome struct {
	status int
	code   string
}

type matrixRow struct {
	pattern string  // the route's ServeMux pattern
	path    string  // the concrete path requested ("" = the pattern's path)
	body    string  // request body ("" = none)
	ok      outcome // what the handler answers once the request reaches it
	cells   string  // one outcome per matrixCreds column, space separated
}

const missingID = "00000000-0000-4000-8000-000000000000"

// The access patterns of the matrix. Columns: anon viewer contrib admin
// key.c key.a app.a+ app.a app.c+ app.c static static.e+ static.e
// xjwt.app+ xjwt.app xjwt.key.
const (
	// Public: no credential needed; any credential is ignored.
	pPublic = "ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok"
	// Viewer, not user scoped, declared safe for app credentials (SPEC 2.6).
	pAppSafe = "401 ok ok ok ok ok ok ok ok ok ok ok ok ok ok ok"
	// Viewer, user scoped GET: an app credential names its end user,
	// except an admin one reading tenant-wide.
	pScopedRead = "401 ok ok ok ok ok ok ok ok eu ok ok eu ok ok ok"
	// Contributor, user scoped write: the header is always mandatory.
	pScopedWrite = "401 403 ok ok ok ok ok eu ok eu ok ok eu ok eu ok"
	// Viewer, user scoped, not a GET (leaving a shared conversation): the
	// header is mandatory.
	pScopedWriteViewer = "401 ok ok ok ok ok ok eu ok eu ok ok eu ok eu ok"
	// Viewer / contributor, not user scoped, for users only (invites: end
	// users of app credentials have no shared conversations).
	pUserRead  = "401 ok ok ok ok ok 403 403 403 403 ok 403 403 403 403 ok"
	pUserWrite = "401 403 ok ok ok ok 403 403 403 403 ok 403 403 403 403 ok"
	// Contributor, the caller's own keys: a user or the user's own plain
	// key (or its exchanged JWT); never an app credential or static token.
	pOwnKeys = "401 403 ok ok ok ok 403 403 403 403 403 403 403 403 403 ok"
	// Viewer, the caller's own records: a user or the user's own plain key
	// (or its exchanged JWT); never an app credential or static token.
	pOwnRead = "401 ok ok ok ok ok 403 403 403 403 403 403 403 403 403 ok"
	// Admin: admin users, their plain keys and admin static tokens; never
	// an app credential, even with role admin.
	pAdmin = "401 403 403 ok 403 ok 403 403 403 403 ok 403 403 403 403 ok"
	// Viewer, a user's own login only (logout revokes the user's JWTs).
	pLogin = "401 ok ok ok 403 403 403 403 403 403 403 403 403 403 403 403"
	// The key exchange: keys and static tokens (app ones included) get a
	// JWT; a login JWT or an exchanged JWT is not exchangeable.
	pExchange = "401 inv inv inv tok tok tok tok tok tok tok tok tok inv inv inv"
)

// The access matrix of every route (docs/authentication.md shows it as a
// table).
var accessMatrix = []matrixRow{
	{"GET /healthz", "", "", outcome{200, ""}, pPublic},
	{"GET /readyz", "", "", outcome{200, ""}, pPublic},
	{"GET /metrics", "", "", outcome{200, ""}, pPublic},
	{"GET /openapi.json", "", "", outcome{200, ""}, pPublic},
	{"GET /api/auth/status", "", "", outcome{200, ""}, pPublic},
	{"GET /api/setup", "", "", outcome{200, ""}, pPublic},
	{"POST /api/setup", "", `{}`, outcome{400, "missing_field"}, pPublic},
	{"POST /api/auth/register", "", `{}`, outcome{400, "missing_field"}, pPublic},
	{"POST /api/auth/login", "", `{}`, outcome{400, "missing_field"}, pPublic},
	// OAuth answers browsers with redirects only: an unknown provider ends
	// on the login page (302 /login?error=unknown_provider).
	{"GET /api/auth/oauth/{name}", "/api/auth/oauth/none", "", outcome{302, ""}, pPublic},
	{"GET /api/auth/oauth/{name}/callback", "/api/auth/oauth/none/callback", "", outcome{302, ""}, pPublic},
	{"POST /api/auth/oauth/{name}/callback", "/api/auth/oauth/none/callback", "", outcome{302, ""}, pPublic},

	{"GET /v1/models", "", "", outcome{200, ""}, pAppSafe},
	{"GET /v1/info", "", "", outcome{200, ""}, pAppSafe},
	{"GET /v1/models/{id}", "/v1/models/echo", "", outcome{200, ""}, pAppSafe},
	{"GET /api/auth/me", "", "", outcome{200, ""}, pAppSafe},
	{"POST /api/auth/token", "", "", outcome{}, pExchange},
	{"POST /api/auth/logout", "", "", outcome{204, ""}, pLogin},
	{"POST /api/auth/sessions", "", `{}`, outcome{400, "missing_field"}, pPublic},
	{"POST /api/auth/refresh", "", "", outcome{401, "session_expired"}, pLogin},
	{"GET /api/auth/sessions", "", "", outcome{200, ""}, pLogin},
	{"DELETE /api/auth/sessions", "", "", outcome{204, ""}, pLogin},
	{"DELETE /api/auth/sessions/{id}", "/api/auth/sessions/" + missingID, "", outcome{404, "not_found"}, pLogin},
	{"PUT /api/auth/password", "", `{}`, outcome{400, "missing_field"}, pLogin},

	{"POST /v1/chat/completions", "", `{}`, outcome{400, "missing_field"}, pScopedWrite},
	{"POST /v1/completions", "", `{}`, outcome{400, "missing_field"}, pScopedWrite},
	{"POST /v1/embeddings", "", `{}`, outcome{400, "missing_field"}, pScopedWrite},
	{"POST /v1/responses", "", `{}`, outcome{400, "missing_field"}, pScopedWrite},
	{"GET /v1/responses/{id}", "/v1/responses/resp_missing", "", outcome{404, "not_found"}, pScopedRead},
	{"DELETE /v1/responses/{id}", "/v1/responses/resp_missing", "", outcome{404, "not_found"}, pScopedWrite},
	{"POST /v1/messages", "", `{}`, outcome{400, "missing_field"}, pScopedWrite},
	{"GET /api/usage", "", "", outcome{200, ""}, pScopedRead},
	{"POST /api/conversations", "", `{}`, outcome{201, ""}, pScopedWrite},
	{"GET /api/conversations", "", "", outcome{200, ""}, pScopedRead},
	{"GET /api/conversations/{id}", "/api/conversations/" + missingID, "", outcome{404, "conversation_not_found"}, pScopedRead},
	{"PATCH /api/conversations/{id}", "/api/conversations/" + missingID, `{}`, outcome{404, "conversation_not_found"}, pScopedWrite},
	{"DELETE /api/conversations/{id}", "/api/conversations/" + missingID, "", outcome{404, "conversation_not_found"}, pScopedWrite},
	{"GET /api/conversations/{id}/messages", "/api/conversations/" + missingID + "/messages", "", outcome{404, "conversation_not_found"}, pScopedRead},
	{"POST /api/conversations/{id}/messages", "/api/conversations/" + missingID + "/messages", `{"content":"x"}`, outcome{404, "conversation_not_found"}, pScopedWrite},
	{"GET /api/stream/conversations/{id}", "/api/stream/conversations/" + missingID, "", outcome{404, "conversation_not_found"}, pScopedRead},
	{"PATCH /api/messages/{id}", "/api/messages/" + missingID, `{"content":"x"}`, outcome{404, "message_not_found"}, pScopedWrite},
	{"DELETE /api/messages/{id}", "/api/messages/" + missingID, "", outcome{404, "message_not_found"}, pScopedWrite},
	{"POST /api/messages/{id}/restore", "/api/messages/" + missingID + "/restore", "", outcome{404, "message_not_found"}, pScopedWrite},
	{"GET /api/search", "/api/search?q=x", "", outcome{200, ""}, pScopedRead},
	{"GET /api/conversations/{id}/participants", "/api/conversations/" + missingID + "/participants", "", outcome{404, "conversation_not_found"}, pScopedRead},
	{"POST /api/conversations/{id}/participants", "/api/conversations/" + missingID + "/participants", `{"user_id":"x","role":"reader"}`, outcome{404, "conversation_not_found"}, pScopedWrite},
	{"GET /api/conversations/{id}/invites", "/api/conversations/" + missingID + "/invites", "", outcome{404, "conversation_not_found"}, pScopedRead},
	{"POST /api/conversations/{id}/invites", "/api/conversations/" + missingID + "/invites", `{"role":"reader"}`, outcome{404, "conversation_not_found"}, pScopedWrite},
	{"POST /api/conversations/{id}/share", "/api/conversations/" + missingID + "/share", "", outcome{404, "conversation_not_found"}, pScopedWrite},
	{"DELETE /api/conversations/{id}/share", "/api/conversations/" + missingID + "/share", "", outcome{404, "conversation_not_found"}, pScopedWrite},
	{"GET /api/share/{token}", "/api/share/tgs_x", "", outcome{404, "not_found"}, pPublic},
	{"POST /api/conversations/{id}/read", "/api/conversations/" + missingID + "/read", `{"message_id":"msg_x"}`, outcome{404, "conversation_not_found"}, pScopedWriteViewer},
	{"GET /api/conversations/{id}/threads", "/api/conversations/" + missingID + "/threads", "", outcome{404, "conversation_not_found"}, pScopedRead},
	{"POST /api/conversations/{id}/typing", "/api/conversations/" + missingID + "/typing", `{"typing":true}`, outcome{404, "conversation_not_found"}, pScopedWrite},
	{"POST /api/presence/heartbeat", "", "", outcome{204, ""}, pUserRead},
	{"DELETE /api/invites/{id}", "/api/invites/" + missingID, "", outcome{404, "not_found"}, pUserWrite},
	{"POST /api/invites/accept", "", `{"token":"tgi_x"}`, outcome{404, "not_found"}, pUserRead},
	{"DELETE /api/conversations/{id}/participants/{user_id}", "/api/conversations/" + missingID + "/participants/x", "", outcome{404, "conversation_not_found"}, pScopedWriteViewer},

	{"GET /api/keys", "", "", outcome{200, ""}, pOwnKeys},
	{"POST /api/keys", "", `{}`, outcome{400, "missing_field"}, pOwnKeys},
	{"DELETE /api/keys/{id}", "/api/keys/" + missingID, "", outcome{404, "not_found"}, pOwnKeys},
	{"POST /api/keys/{id}/rotate", "/api/keys/" + missingID + "/rotate", "", outcome{404, "not_found"}, pOwnKeys},
	{"PATCH /api/keys/{id}", "/api/keys/" + missingID, `{}`, outcome{404, "not_found"}, pOwnKeys},
	{"PUT /api/keys/{id}/budget", "/api/keys/" + missingID + "/budget", `{}`, outcome{404, "not_found"}, pOwnKeys},
	{"DELETE /api/keys/{id}/budget", "/api/keys/" + missingID + "/budget", "", outcome{404, "not_found"}, pOwnKeys},
	{"GET /api/limits", "", "", outcome{200, ""}, pAppSafe},

	{"GET /api/admin/keys", "", "", outcome{200, ""}, pAdmin},
	{"DELETE /api/admin/keys/{id}", "/api/admin/keys/" + missingID, "", outcome{404, "not_found"}, pAdmin},
	{"PATCH /api/admin/keys/{id}", "/api/admin/keys/" + missingID, `{}`, outcome{404, "not_found"}, pAdmin},
	{"GET /api/admin/usage", "", "", outcome{200, ""}, pAdmin},
	{"GET /api/admin/users", "", "", outcome{200, ""}, pAdmin},
	{"GET /api/admin/audit", "", "", outcome{200, ""}, pAdmin},
	{"GET /api/audit", "", "", outcome{200, ""}, pOwnRead},
	{"POST /api/admin/users", "", `{}`, outcome{400, "missing_field"}, pAdmin},
	{"PATCH /api/admin/users/{id}", "/api/admin/users/" + missingID, `{}`, outcome{404, "not_found"}, pAdmin},
	{"DELETE /api/admin/users/{id}", "/api/admin/users/" + missingID, "", outcome{404, "not_found"}, pAdmin},
	{"POST /api/admin/users/{id}/sessions/revoke", "/api/admin/users/" + missingID + "/sessions/revoke", "", outcome{404, "not_found"}, pAdmin},
	{"GET /api/admin/budgets", "", "", outcome{200, ""}, pAdmin},
	{"POST /api/admin/budgets", "", `{}`, outcome{400, "missing_field"}, pAdmin},
	{"PUT /api/admin/budgets/{id}", "/api/admin/budgets/" + missingID, `{}`, outcome{400, "missing_field"}, pAdmin},
	{"DELETE /api/admin/budgets/{id}", "/api/admin/budgets/" + missingID, "", outcome{404, "not_found"}, pAdmin},
	{"GET /api/admin/rate-limits/policies", "", "", outcome{200, ""}, pAdmin},
	{"POST /api/admin/rate-limits/policies", "", `{}`, outcome{400, "missing_field"}, pAdmin},
	{"PUT /api/admin/rate-limits/policies/{id}", "/api/admin/rate-limits/policies/" + missingID, `{}`, outcome{400, "missing_field"}, pAdmin},
	{"DELETE /api/admin/rate-limits/policies/{id}", "/api/admin/rate-limits/policies/" + missingID, "", outcome{404, "not_found"}, pAdmin},
	{"GET /api/admin/rate-limits/assignments", "", "", outcome{200, ""}, pAdmin},
	{"POST /api/admin/rate-limits/assignments", "", `{}`, outcome{400, "missing_field"}, pAdmin},
	{"DELETE /api/admin/rate-limits/assignments/{id}", "/api/admin/rate-limits/assignments/" + missingID, "", outcome{404, "not_found"}, pAdmin},
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	runAccessMatrix(t, "", nil)
}

// TestAccessMatrixMetrics: metrics.require_auth makes /metrics an admin
// route; with metrics.addr the main listener still declares it and answers
// every caller 404 not_found. Every route still needs its row; only the
// /metrics row is requested.
func TestAccessMatrixMetrics(t *testing.T) {
	t.Parallel()
	t.Run("RequireAuth", func(t *testing.T) {
		runAccessMatrix(t, "[metrics]\nrequire_auth = true\n", []matrixRow{
			{"GET /metrics", "", "", outcome{200, ""}, pAdmin}})
	})
	t.Run("SeparateListener", func(t *testing.T) {
		runAccessMatrix(t, "[metrics]\naddr = \"127.0.0.1:0\"\n", []matrixRow{
			{"GET /metrics", "", "", outcome{404, "not_found"}, pPublic}})
	})
	t.Run("SeparateListenerRequireAuth", func(t *testing.T) {
		runAccessMatrix(t, "[metrics]\naddr = \"127.0.0.1:0\"\nrequire_auth = true\n", []matrixRow{
			{"GET /metrics", "", "", outcome{404, "not_found"}, pPublic}})
	})
}

// runAccessMatrix runs the access matrix on a server with toml added to
// its config. With variant rows, those rows replace the ones of the same
// pattern and only they are requested (every route still needs a row).
func runAccessMatrix(t *testing.T, toml string, variant []matrixRow) {
	const (
		staticAdmin = "matrix-static-admin-0123456789"
		staticApp   = "matrix-static-app-0123456789"
	)
	cfg, _ := staticConfig(t, `
[auth]
login_rate_per_minute = 1000
register_rate_per_minute = 1000

[rate_limit.default]
requests_per_minute = 100000
burst = 100000

[[auth.static_tokens]]
name = "ops"
token_env = "TG_MATRIX_STATIC_ADMIN"
role = "admin"

[[auth.static_tokens]]
name = "frontend"
token_env = "TG_MATRIX_STATIC_APP"
role = "contributor"
end_user_mode = true
`+toml)
	logs := &syncBuffer{}
	deps := testDeps(nil)
	deps.getenv = mapEnv(map[string]string{"TG_MATRIX_STATIC_ADMIN": staticAdmin, "TG_MATRIX_STATIC_APP": staticApp})
	e := startAuthEnv(t, cfg, slog.New(slog.NewTextHandler(logs, nil)), logs, deps)
	k := &keyEnv{authEnv: e}
	adminTok := e.setup()
	e.createUser(adminTok, "viewer@example.com", adminPassword, "viewer")
	e.createUser(adminTok, "con@example.com", adminPassword, "contributor")
	conTok := e.login("con@example.com", adminPassword)
	keyC := k.createKey(conTok, httpapi.CreateKeyRequest{Name: "plain-c"}).Key
	keyA := k.createKey(adminTok, httpapi.CreateKeyRequest{Name: "plain-a"}).Key
	appA := k.createKey(adminTok, httpapi.CreateKeyRequest{Name: "app-a", EndUserMode: true}).Key
	appC := k.createKey(conTok, httpapi.CreateKeyRequest{Name: "app-c", EndUserMode: true}).Key
	exchange := func(cred string) string {
		r := e.do("POST", "/api/auth/token", cred, nil)
		wantStatus(t, r, http.StatusOK)
		return r.body["access_token"].(string)
	}
	xApp, xKey := exchange(appA), exchange(keyA)
	creds := map[string]string{
		"viewer": e.login("viewer@example.com", adminPassword), "contrib": conTok, "admin": adminTok,
		"key.c": keyC, "key.a": keyA, "app.a+": appA, "app.a": appA, "app.c+": appC, "app.c": appC,
		"static": staticAdmin, "static.e+": staticApp, "static.e": staticApp,
		"xjwt.app+": xApp, "xjwt.app": xApp, "xjwt.key": xKey,
	}
	for who, role := range map[string]string{"cookie.v": "viewer", "cookie.c": "contributor", "cookie.a": "admin"} {
		email := who + "@example.com"
		e.createUser(adminTok, email, adminPassword, role)
		b, _ := e.sessionLogin(email, adminPassword)
		creds[who] = "cookie:" + b.name + "=" + b.cookie + "|" + b.csrf
	}

	rows := map[string]matrixRow{}
	for _, row := range accessMatrix {
		if _, dup := rows[row.pattern]; dup {
			t.Fatalf("two rows for %s", row.pattern)
		}
		rows[row.pattern] = row
	}
	only := map[string]bool{}
	for _, row := range variant {
		rows[row.pattern], only[row.pattern] = row, true
	}
	var patterns []string
	for _, rt := range e.app.api.Routes() {
		if strings.HasPrefix(rt.Path, "/test/") { // the env's own test route
			continue
		}
		patterns = append(patterns, rt.Pattern())
		if _, ok := rows[rt.Pattern()]; !ok {
			t.Errorf("route %s has no row in the access matrix: add one (and to docs/authentication.md)", rt.Pattern())
		}
	}
	for p := range rows {
		if !slices.Contains(patterns, p) {
			t.Errorf("access matrix row %s names no registered route", p)
		}
	}
	// Logout revokes the caller's JWTs (and ends a session): run it after
	// everything else; refresh rotates the sessions: just before.
	last := func(p string) int {
		return boolInt(p == "POST /api/auth/refresh") + 2*boolInt(p == "POST /api/auth/logout")
	}
	slices.SortStableFunc(patterns, func(a, b string) int { return last(a) - last(b) })
	for _, p := range patterns {
		row, ok := rows[p]
		if !ok || (len(only) > 0 && !only[p]) {
			continue
		}
		cells := strings.Fields(row.cells)
		if len(cells) == len(matrixCreds)-3 {
			cells = append(cells, cells[1], cells[2], cells[3]) // the cookie columns
		}
		if len(cells) != len(matrixCreds) {
			t.Errorf("%s: %d cells, want %d", p, len(cells), len(matrixCreds))
			continue
		}
		method, path, _ := strings.Cut(p, " ")
		if row.path != "" {
			path = row.path
		}
		for i, who := range matrixCreds {
			var hdr []string
			if strings.HasSuffix(who, "+") {
				hdr = []string{"X-End-User-Id", "u1"}
			}
			r := matrixDo(t, e.url, method, path, creds[who], row.body, hdr...)
			want := outcome{}
			if strings.HasPrefix(who, "cookie.") {
				sessionName, _, _ := strings.Cut(strings.TrimPrefix(creds[who], "cookie:"), "=")
				for _, sc := range r.header["Set-Cookie"] { // refresh rotated the session
					if c, err := http.ParseSetCookie(sc); err == nil && c.Name == sessionName && c.Value != "" {
						_, csrf, _ := strings.Cut(creds[who], "|")
						creds[who] = "cookie:" + sessionName + "=" + c.Value + "|" + csrf
					} else if err == nil && c.Name == "tollgate_csrf" && c.Value != "" {
						cookie, _, _ := strings.Cut(creds[who], "|")
						creds[who] = cookie + "|" + c.Value
					}
				}
			}
			switch cells[i] {
			case cOK:
				want = row.ok
				if o, ok := cookieOK[p]; ok && strings.HasPrefix(who, "cookie.") {
					want = o
				}
			case c401:
				want = outcome{401, "missing_authorization"}
			case c403:
				want = outcome{403, "insufficient_role"}
			case cEU:
				want = outcome{400, "missing_field"}
			case cInv:
				want = outcome{401, "invalid_authorization"}
			case cTok:
				want = outcome{200, ""}
			default:
				t.Fatalf("%s: unknown cell %q", p, cells[i])
			}
			code, typ, param := r.err()
			if r.status != want.status || code != want.code {
				t.Errorf("%s as %s = %d %s, want %d %s; body %s", p, who, r.status, code, want.status, want.code, r.raw)
				continue
			}
			switch cells[i] {
			case c403:
				if typ != "permission_error" || param != "" {
					t.Errorf("%s as %s: type %q param %q, want permission_error and null", p, who, typ, param)
				}
			case cEU:
				if typ != "invalid_request_error" || param != "headers.x-end-user-id" {
					t.Errorf("%s as %s: type %q param %q, want invalid_request_error headers.x-end-user-id", p, who, typ, param)
				}
			case c401, cInv:
				if typ != "authentication_error" || param != "" {
					t.Errorf("%s as %s: type %q param %q, want authentication_error and null", p, who, typ, param)
				}
			}
		}
	}
}

// matrixClient does not follow redirects: the OAuth routes answer 302.
var matrixClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// matrixDo is authEnv.do for any response body (JSON is decoded; /metrics
// is text).
func matrixDo(t *testing.T, base, method, path, token, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie, ok := strings.CutPrefix(token, "cookie:"); ok {
		cookie, csrf, _ := strings.Cut(cookie, "|")
		req.Header.Set("Cookie", cookie)
		if method != "GET" && method != "HEAD" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
	} else if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := matrixClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.Header.Get("Content-Type") == "application/json" && len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: JSON body does not decode: %q", method, path, raw)
		}
	}
	return out
}
