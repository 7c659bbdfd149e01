package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// auditEngines are the databases the audit e2e tests run on.
var auditEngines = []struct {
	name string
	env  func(t *testing.T) []string
}{
	{"SQLite", func(*testing.T) []string { return nil }},
	{"Postgres", func(t *testing.T) []string { return []string{"TOLLGATE_DATABASE_URL=" + sqltest.PostgresURL(t)} }},
}

// auditStep is one request of TestAuditActions and the records it must
// leave: exactly these actions, each with the actor, target and outcome
// given, the request's ip, user agent and request id.
type auditStep struct {
	name string
	do   func(hdr []string) reply
	want []wantRecord
}

type wantRecord struct {
	action  string
	actor   func() gateway.AuditRef
	target  func() *gateway.AuditRef // nil: not checked
	outcome string
}

func ref(typ string, id *string) func() gateway.AuditRef {
	return func() gateway.AuditRef { return gateway.AuditRef{Type: typ, ID: *id} }
}

func tref(typ string, id *string) func() *gateway.AuditRef {
	return func() *gateway.AuditRef { return &gateway.AuditRef{Type: typ, ID: *id} }
}

// TestAuditActions: every action of SPEC 8.1 that a request causes leaves
// exactly one record with the right actor, target, outcome, ip, user
// agent and request id; a refused change (demoting the last admin) leaves
// none; no secret of the run appears in any record; a viewer sees only
// its own records; the admin list's filters and pagination are exact; the
// chain verifies. On SQLite and PostgreSQL.
func TestAuditActions(t *testing.T) {
	t.Parallel()
	for _, eng := range auditEngines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			testAuditActions(t, eng.env(t))
		})
	}
}

func testAuditActions(t *testing.T, environ []string) {
	e := newAuthEnv(t, append(environ, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true")...)
	ctx := context.Background()
	var secrets []string
	keep := func(s ...string) {
		for _, v := range s {
			if v == "" {
				t.Fatal("empty secret kept")
			}
			secrets = append(secrets, v)
		}
	}
	const (
		viewerPW   = "viewer password 1"
		viewerPW2  = "viewer password 2"
		regPW      = "registered password"
		wrongPW    = "wrong password guess"
		partnerPW  = "partner password 1"
		failedMail = "admin@example.com"
	)
	keep(adminPassword, viewerPW, viewerPW2, regPW, wrongPW, partnerPW)
	var adminID, viewerID, partnerID, regID, keyID, adminTok, viewerTok, partnerTok, convID, budgetID, policyID, assignID string
	anon := func() gateway.AuditRef { return gateway.AuditRef{Type: "anonymous"} }
	str := func(r reply, k string) string {
		t.Helper()
		v, _ := r.body[k].(string)
		if v == "" {
			t.Fatalf("answer has no %s: %s", k, r.raw)
		}
		return v
	}
	steps := []auditStep{
		{"Setup", func(h []string) reply {
			r := e.do("POST", "/api/setup", "", map[string]string{"email": "admin@example.com", "password": adminPassword, "display_name": "Admin"}, h...)
			wantStatus(t, r, 201)
			adminID = str(r, "id")
			return r
		}, []wantRecord{{"setup", ref("user", &adminID), tref("user", &adminID), "success"}}},
		{"Login", func(h []string) reply {
			r := e.do("POST", "/api/auth/login", "", map[string]string{"email": "admin@example.com", "password": adminPassword}, h...)
			wantStatus(t, r, 200)
			adminTok = str(r, "access_token")
			keep(adminTok)
			return r
		}, []wantRecord{{"auth.login", ref("user", &adminID), tref("user", &adminID), "success"}}},
		{"LoginFailed", func(h []string) reply {
			r := e.do("POST", "/api/auth/login", "", map[string]string{"email": failedMail, "password": wrongPW}, h...)
			wantError(t, r, 401, "invalid_credentials", "")
			return r
		}, []wantRecord{{"auth.login_failed", anon, nil, "failure"}}},
		{"UserCreated", func(h []string) reply {
			r := e.do("POST", "/api/admin/users", adminTok, map[string]string{"email": "viewer@example.com", "password": viewerPW, "display_name": "V", "role": "contributor"}, h...)
			wantStatus(t, r, 201)
			viewerID = str(r, "id")
			return r
		}, []wantRecord{{"user.created", ref("user", &adminID), tref("user", &viewerID), "success"}}},
		{"RoleChanged", func(h []string) reply {
			r := e.do("PATCH", "/api/admin/users/"+viewerID, adminTok, map[string]string{"role": "viewer"}, h...)
			wantStatus(t, r, 200)
			return r
		}, []wantRecord{{"user.role_changed", ref("user", &adminID), tref("user", &viewerID), "success"}}},
		{"Deactivated", func(h []string) reply {
			r := e.do("PATCH", "/api/admin/users/"+viewerID, adminTok, map[string]any{"active": false}, h...)
			wantStatus(t, r, 200)
			return r
		}, []wantRecord{{"user.deactivated", ref("user", &adminID), tref("user", &viewerID), "success"}}},
		{"Activated", func(h []string) reply {
			r := e.do("PATCH", "/api/admin/users/"+viewerID, adminTok, map[string]any{"active": true}, h...)
			wantStatus(t, r, 200)
			return r
		}, []wantRecord{{"user.activated", ref("user", &adminID), tref("user", &viewerID), "success"}}},
		{"DemoteLastAdminRefused", func(h []string) reply {
			r := e.do("PATCH", "/api/admin/users/"+adminID, adminTok, map[string]string{"role": "viewer"}, h...)
			wantError(t, r, 409, "last_admin", "")
			return r
		}, nil},
		{"ViewerLogin", func(h []string) reply {
			viewerTok = e.login("viewer@example.com", viewerPW)
			keep(viewerTok)
			r := e.do("POST", "/api/auth/login", "", map[string]string{"email": "viewer@example.com", "password": viewerPW}, h...)
			wantStatus(t, r, 200)
			keep(str(r, "access_token"))
			return r
		}, []wantRecord{{"auth.login", ref("user", &viewerID), tref("user", &viewerID), "success"}}},
		{"AccessDenied", func(h []string) reply {
			r := e.do("GET", "/api/admin/users", viewerTok, nil, h...)
			wantError(t, r, 403, "insufficient_role", "")
			return r
		}, []wantRecord{{"access.denied", ref("user", &viewerID), func() *gateway.AuditRef {
			return &gateway.AuditRef{Type: "route", ID: "GET /api/admin/users"}
		}, "failure"}}},
		{"KeyCreated", func(h []string) reply {
			r := e.do("POST", "/api/keys", adminTok, map[string]string{"name": "k"}, h...)
			wantStatus(t, r, 201)
			keyID = str(r, "id")
			keep(str(r, "key"))
			return r
		}, []wantRecord{{"key.created", ref("user", &adminID), tref("key", &keyID), "success"}}},
		{"KeyRotated", func(h []string) reply {
			r := e.do("POST", "/api/keys/"+keyID+"/rotate", adminTok, map[string]int{"grace_seconds": 0}, h...)
			wantStatus(t, r, 200)
			keep(str(r, "key"))
			return r
		}, []wantRecord{{"key.rotated", ref("user", &adminID), tref("key", &keyID), "success"}}},
		{"KeyExchanged", func(h []string) reply {
			r := e.do("POST", "/api/auth/token", secrets[len(secrets)-1], nil, h...)
			wantStatus(t, r, 200)
			keep(str(r, "access_token"))
			return r
		}, []wantRecord{{"key.exchanged", ref("key", &keyID), tref("key", &keyID), "success"}}},
		{"KeyRevoked", func(h []string) reply {
			r := e.do("DELETE", "/api/keys/"+keyID, adminTok, nil, h...)
			wantStatus(t, r, 204)
			return r
		}, []wantRecord{{"key.revoked", ref("user", &adminID), tref("key", &keyID), "success"}}},
		{"Register", func(h []string) reply {
			r := e.do("POST", "/api/auth/register", "", map[string]string{"email": "reg@example.com", "password": regPW, "display_name": "R"}, h...)
			wantStatus(t, r, 201)
			keep(str(r, "access_token"))
			regID = r.body["user"].(map[string]any)["id"].(string)
			return r
		}, []wantRecord{{"auth.register", ref("user", &regID), tref("user", &regID), "success"}}},
		{"SessionLogin", func(h []string) reply {
			b, r := e.sessionLogin("viewer@example.com", viewerPW, h...)
			keep(b.cookie, b.csrf)
			return r
		}, []wantRecord{{"auth.login", ref("user", &viewerID), tref("user", &viewerID), "success"}}},
		{"SessionsRevokedByAdmin", func(h []string) reply {
			r := e.do("POST", "/api/admin/users/"+viewerID+"/sessions/revoke", adminTok, nil, h...)
			wantStatus(t, r, 204)
			return r
		}, []wantRecord{{"auth.session_revoked", ref("user", &adminID), tref("user", &viewerID), "success"}}},
		{"PasswordChanged", func(h []string) reply {
			r := e.do("PUT", "/api/auth/password", viewerTok, map[string]string{"current_password": viewerPW, "new_password": viewerPW2}, h...)
			wantStatus(t, r, 204)
			viewerTok = e.login("viewer@example.com", viewerPW2)
			keep(viewerTok)
			return r
		}, []wantRecord{{"auth.password_changed", ref("user", &viewerID), tref("user", &viewerID), "success"}}},
		{"Logout", func(h []string) reply {
			r := e.do("POST", "/api/auth/logout", viewerTok, nil, h...)
			wantStatus(t, r, 204)
			viewerTok = e.login("viewer@example.com", viewerPW2)
			keep(viewerTok)
			return r
		}, []wantRecord{{"auth.logout", ref("user", &viewerID), tref("user", &viewerID), "success"}}},
		{"RateLimitPolicy", func(h []string) reply {
			r := e.do("POST", "/api/admin/rate-limits/policies", adminTok, map[string]any{"name": "p", "requests_per_minute": 100, "burst": 10}, h...)
			wantStatus(t, r, 201)
			policyID = str(r, "id")
			return r
		}, []wantRecord{{"rate_limit.policy_changed", ref("user", &adminID), tref("rate_limit_policy", &policyID), "success"}}},
		{"RateLimitAssignment", func(h []string) reply {
			r := e.do("POST", "/api/admin/rate-limits/assignments", adminTok, map[string]any{"policy_id": policyID, "subject_type": "user", "subject": regID}, h...)
			wantStatus(t, r, 201)
			assignID = str(r, "id")
			return r
		}, []wantRecord{{"rate_limit.assignment_changed", ref("user", &adminID), tref("rate_limit_assignment", &assignID), "success"}}},
		{"BudgetChanged", func(h []string) reply {
			r := e.do("POST", "/api/admin/budgets", adminTok, map[string]any{"subject_type": "user", "subject": adminID, "period": "day", "max_tokens": 100000, "alert_percent": 1}, h...)
			wantStatus(t, r, 201)
			budgetID = str(r, "id")
			return r
		}, []wantRecord{{"budget.changed", ref("user", &adminID), tref("budget", &budgetID), "success"}}},
		{"BudgetAlert", func(h []string) reply {
			words := strings.Repeat("word ", 1200)
			r := e.do("POST", "/v1/chat/completions", adminTok, map[string]any{"model": "echo", "max_tokens": 10,
				"messages": []map[string]string{{"role": "user", "content": words}}}, h...)
			wantStatus(t, r, 200)
			// The alert is recorded when the usage writer has settled the
			// request (off the request path, at once for a settlement).
			deadline := time.Now().Add(20 * time.Second)
			for {
				recs, err := e.app.store.ListAudit(ctx, gateway.AuditFilter{Action: "budget.alert"})
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no budget.alert record 20 s after the request")
				}
				time.Sleep(10 * time.Millisecond)
			}
			return r
		}, []wantRecord{{"budget.alert", func() gateway.AuditRef { return gateway.AuditRef{Type: "system"} }, tref("budget", &budgetID), "success"}}},
		{"ConversationShared", func(h []string) reply {
			c := e.do("POST", "/api/conversations", adminTok, map[string]string{"title": "t"})
			wantStatus(t, c, 201)
			convID = str(c, "id")
			r := e.do("POST", "/api/conversations/"+convID+"/share", adminTok, nil, h...)
			wantStatus(t, r, 201)
			keep(str(r, "token"))
			return r
		}, []wantRecord{{"conversation.shared", ref("user", &adminID), tref("conversation", &convID), "success"}}},
		{"ParticipantAdded", func(h []string) reply {
			r := e.do("POST", "/api/conversations/"+convID+"/participants", adminTok, map[string]string{"user_id": viewerID, "role": "reader"}, h...)
			wantStatus(t, r, 201)
			return r
		}, []wantRecord{{"participant.added", ref("user", &adminID), tref("conversation", &convID), "success"}}},
		{"ParticipantRemoved", func(h []string) reply {
			r := e.do("DELETE", "/api/conversations/"+convID+"/participants/"+viewerID, adminTok, nil, h...)
			wantStatus(t, r, 204)
			return r
		}, []wantRecord{{"participant.removed", ref("user", &adminID), tref("conversation", &convID), "success"}}},
		{"InviteCreated", func(h []string) reply {
			r := e.do("POST", "/api/conversations/"+convID+"/invites", adminTok, map[string]string{"role": "reader"}, h...)
			wantStatus(t, r, 201)
			keep(str(r, "token"))
			return r
		}, []wantRecord{{"invite.created", ref("user", &adminID), tref("conversation", &convID), "success"}}},
		{"InviteAccepted", func(h []string) reply {
			partnerID = e.createUser(adminTok, "partner@example.com", partnerPW, "viewer")
			partnerTok = e.login("partner@example.com", partnerPW)
			keep(partnerTok)
			r := e.do("POST", "/api/invites/accept", partnerTok, map[string]string{"token": secrets[len(secrets)-2]}, h...)
			wantStatus(t, r, 200)
			return r
		}, []wantRecord{{"invite.accepted", ref("user", &partnerID), tref("conversation", &convID), "success"}}},
		{"UserDeleted", func(h []string) reply {
			r := e.do("DELETE", "/api/admin/users/"+regID, adminTok, nil, h...)
			wantStatus(t, r, 204)
			return r
		}, []wantRecord{
			{"user.deactivated", ref("user", &adminID), tref("user", &regID), "success"},
			{"user.deleted", ref("user", &adminID), tref("user", &regID), "success"},
		}},
	}
	for i, st := range steps {
		rid := fmt.Sprintf("audit-step-%02d", i)
		ua := "audit-test/" + st.name
		st.do([]string{"X-Request-Id", rid, "User-Agent", ua})
	}
	e.app.audit.Flush(ctx)
	var all []gateway.AuditRecord
	if err := e.app.store.ScanAudit(ctx, 0, func(r gateway.AuditRecord) error { all = append(all, r); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		rid := fmt.Sprintf("audit-step-%02d", i)
		var got []gateway.AuditRecord
		for _, r := range all {
			if r.RequestID == rid {
				got = append(got, r)
			}
		}
		if len(got) != len(st.want) {
			t.Errorf("%s: %d records %+v, want %d", st.name, len(got), got, len(st.want))
			continue
		}
		for j, w := range st.want {
			r := got[j]
			ip, ua := "127.0.0.1", "audit-test/"+st.name
			if w.actor().Type == gateway.AuditActorSystem {
				// Written off the request path (budget.alert, by the usage
				// writer): the request id is known, the client is not.
				ip, ua = "", ""
			}
			if r.Action != w.action || r.Actor != w.actor() || r.Outcome != w.outcome || r.IP != ip || r.UserAgent != ua {
				t.Errorf("%s: record %+v, want action %s actor %+v outcome %s ip %q ua %q", st.name, r, w.action, w.actor(), w.outcome, ip, ua)
			}
			if w.target != nil && (r.Target == nil || *r.Target != *w.target()) {
				t.Errorf("%s: target %+v, want %+v", st.name, r.Target, w.target())
			}
		}
	}
	t.Run("FailedLoginKeepsEmail", func(t *testing.T) {
		recs, _ := e.app.store.ListAudit(ctx, gateway.AuditFilter{Action: "auth.login_failed"})
		if len(recs) != 1 || string(recs[0].Details) != `{"email":"admin@example.com","method":"password"}` {
			t.Fatalf("failed login records = %+v", recs)
		}
	})
	t.Run("NoSecretInAnyRecord", func(t *testing.T) {
		if len(secrets) < 15 {
			t.Fatalf("only %d secrets collected", len(secrets))
		}
		for _, r := range all {
			raw, _ := json.Marshal(r)
			for _, s := range secrets {
				if strings.Contains(string(raw), s) {
					t.Errorf("record %s holds a secret of the run: %s", r.ID, raw)
				}
			}
		}
	})
	t.Run("ViewerSeesOnlyOwnRecords", func(t *testing.T) {
		got := auditPages(t, e, viewerTok, "/api/audit", 3)
		if len(got) < 6 {
			t.Fatalf("viewer sees %d records, want its logins, password change, logout, ...", len(got))
		}
		var want []string
		for _, r := range all {
			if r.Actor.ID == viewerID || (r.Target != nil && r.Target.ID == viewerID) {
				want = append([]string{r.ID}, want...)
			}
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(want) {
			t.Fatalf("viewer's records = %v, want %v", ids(got), want)
		}
		r := e.do("GET", "/api/admin/audit", viewerTok, nil)
		wantError(t, r, 403, "insufficient_role", "")
	})
	t.Run("AdminFiltersAndPagination", func(t *testing.T) {
		// Every page walk of the whole log sees every record once, newest first.
		total := len(all) + 1 // + the access.denied of the viewer's try above
		for _, limit := range []int{1, 7, 200} {
			got := auditPages(t, e, adminTok, "/api/admin/audit", limit)
			if len(got) < total {
				t.Fatalf("limit %d: %d records, want at least %d", limit, len(got), total)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Seq != got[i-1].Seq-1 {
					t.Fatalf("limit %d: seq %d after %d", limit, got[i].Seq, got[i-1].Seq)
				}
			}
		}
		count := func(f func(gateway.AuditRecord) bool) (n int) {
			for _, r := range all {
				if f(r) {
					n++
				}
			}
			return
		}
		for _, tc := range []struct {
			q    string
			want int
		}{
			{"action=user.created", count(func(r gateway.AuditRecord) bool { return r.Action == "user.created" })},
			{"actor_id=" + viewerID, count(func(r gateway.AuditRecord) bool { return r.Actor.ID == viewerID }) + 1},
			{"target_id=" + convID, 5},
			{"outcome=failure", 3}, // the failed login and two access.denied
			{"action=key.rotated&actor_id=" + adminID, 1},
			{"from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z", 0},
		} {
			got := auditPages(t, e, adminTok, "/api/admin/audit?"+tc.q, 2)
			if len(got) != tc.want {
				t.Errorf("%s: %d records, want %d", tc.q, len(got), tc.want)
			}
		}
		for _, tc := range []struct{ q, param string }{
			{"outcome=maybe", "query.outcome"}, {"from=yesterday", "query.from"}, {"to=1", "query.to"},
			{"limit=0", "query.limit"}, {"limit=201", "query.limit"}, {"cursor=abc", "query.cursor"}, {"cursor=-1", "query.cursor"},
		} {
			wantError(t, e.do("GET", "/api/admin/audit?"+tc.q, adminTok, nil), 400, "invalid_field", tc.param)
		}
	})
	t.Run("ChainVerifies", func(t *testing.T) {
		if brk, err := e.app.store.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit = %+v, %v", brk, err)
		}
	})
}

// auditPages walks an audit list route page by page (limit each) and
// returns every record.
func auditPages(t *testing.T, e *authEnv, tok, path string, limit int) []gateway.AuditRecord {
	t.Helper()
	var out []gateway.AuditRecord
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor := ""
	for range 10000 {
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.do("GET", p, tok, nil)
		wantStatus(t, r, 200)
		var page struct {
			Data       []gateway.AuditRecord `json:"data"`
			NextCursor *string               `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(r.raw), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Data) > limit || (page.NextCursor != nil && len(page.Data) != limit) {
			t.Fatalf("page of %d with next %v, limit %d", len(page.Data), page.NextCursor, limit)
		}
		out = append(out, page.Data...)
		if page.NextCursor == nil {
			return out
		}
		cursor = *page.NextCursor
	}
	t.Fatal("pagination does not end")
	return nil
}

func ids(recs []gateway.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return slices.Clip(out)
}

// TestAuditStaticTokensReloaded: a reload of the static tokens (SIGHUP)
// leaves one static_tokens.reloaded record by the system, with the names
// and never the secrets.
func TestAuditStaticTokensReloaded(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Auth.StaticTokens = append(cfg.Auth.StaticTokens, config.StaticToken{Name: "frontend", TokenEnv: "TG_AUDIT_STATIC", Role: "contributor"})
	deps := testDeps(nil)
	deps.getenv = mapEnv(map[string]string{"TG_AUDIT_STATIC": "static-secret-0123456789"})
	e := startAuthEnv(t, cfg, slog.New(slog.DiscardHandler), &syncBuffer{}, deps)
	e.app.reloadConfig = func() (*config.Config, error) { return cfg, nil }
	if err := e.app.reloadStaticTokens(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := e.app.store.ListAudit(context.Background(), gateway.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Action != "static_tokens.reloaded" || recs[0].Actor != (gateway.AuditRef{Type: "system"}) ||
		string(recs[0].Details) != `{"count":1,"names":["frontend"]}` {
		t.Fatalf("records = %+v", recs)
	}
}
