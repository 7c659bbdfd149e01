package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// Revocation and database outages (docs/operations.md): two instances on a
// throwaway PostgreSQL cluster the test stops, starts and freezes, with
// changes pushed over LISTEN/NOTIFY or over Redis pub/sub.

// outageTransports are the ways changes travel between the instances.
var outageTransports = []struct {
	name    string
	environ func(t *testing.T) []string
}{
	{"Notify", func(*testing.T) []string { return nil }},
	{"Redis", func(t *testing.T) []string {
		return []string{"TOLLGATE_REDIS_URL=" + testsvc.RedisURL(t), "TOLLGATE_REDIS_KEY_PREFIX=" + testsvc.UniqueName("tg") + ":"}
	}},
}

// outageEnv is instances A and B on one cluster, the environment they were
// configured from (for the CLI), and an admin token.
type outageEnv struct {
	pg      *testsvc.PGCluster
	a, b    *authEnv
	environ []string
	admin   string
}

// newOutageEnv starts A and B. The poll is as slow as config allows
// (5 s), so a change seen sooner was pushed.
func newOutageEnv(t *testing.T, transport []string, environ ...string) *outageEnv {
	t.Helper()
	pg := testsvc.StartPGCluster(t)
	env := append([]string{"TOLLGATE_DATABASE_URL=" + pg.URL(), "TOLLGATE_AUTH_CACHE_SYNC_INTERVAL=5s",
		"TOLLGATE_DATABASE_QUERY_TIMEOUT=500ms"}, transport...)
	env = append(env, environ...)
	a := newAuthEnv(t, env...)
	e := &outageEnv{pg: pg, a: a, environ: env, admin: a.setup()}
	e.b = a.second()
	return e
}

// newSharedEnv is A and B on a private schema of the shared test
// PostgreSQL (for tests that never stop it).
func newSharedEnv(t *testing.T, transport []string) *outageEnv {
	t.Helper()
	env := append([]string{"TOLLGATE_DATABASE_URL=" + sqltest.PostgresURL(t), "TOLLGATE_AUTH_CACHE_SYNC_INTERVAL=5s"}, transport...)
	a := newAuthEnv(t, env...)
	e := &outageEnv{a: a, environ: env, admin: a.setup()}
	e.b = a.second()
	return e
}

// keyOnBoth creates a key on A and uses it on B (so B caches it).
func (e *outageEnv) keyOnBoth(t *testing.T) (id, secret string) {
	t.Helper()
	k, err := e.a.client(e.admin).CreateKey(t.Context(), httpapi.CreateKeyRequest{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.b.do("GET", "/v1/models", k.Key, nil), 200)
	return k.ID, k.Key
}

// TestRevocationOutlivesNoOutage: a key revoked on instance A (HTTP) and
// another revoked by `tollgate key revoke` (CLI on the database), with
// PostgreSQL stopped 0.5 s later, are refused by instance B on its next
// request: the revocations were pushed at commit, not left to B's next
// poll (5 s) that the outage prevents.
func TestRevocationOutlivesNoOutage(t *testing.T) {
	t.Parallel()
	for _, tr := range outageTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newOutageEnv(t, tr.environ(t))
			httpID, httpSecret := e.keyOnBoth(t)
			cliID, cliSecret := e.keyOnBoth(t)
			if err := e.a.client(e.admin).RevokeKey(t.Context(), httpID); err != nil {
				t.Fatal(err)
			}
			if out, errOut, err := runCLI(e.environ, "", "key", "revoke", cliID); err != nil {
				t.Fatalf("key revoke: %v\n%s%s", err, out, errOut)
			}
			time.Sleep(500 * time.Millisecond)
			e.pg.Stop()
			wantError(t, e.b.do("GET", "/v1/models", httpSecret, nil), 401, "invalid_authorization", "")
			wantError(t, e.b.do("GET", "/v1/models", cliSecret, nil), 401, "invalid_authorization", "")
		})
	}
}

// TestUserChangesArePushed: a role change and a deactivation on A act on
// B's next request (B's poll is 5 s away).
func TestUserChangesArePushed(t *testing.T) {
	t.Parallel()
	for _, tr := range outageTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newSharedEnv(t, tr.environ(t))
			uid := e.a.createUser(e.admin, "c@example.com", adminPassword, "contributor")
			tok := e.a.login("c@example.com", adminPassword)
			wantStatus(t, e.b.do("POST", "/test/contribute", tok, nil), 200)
			wantStatus(t, e.a.do("PATCH", "/api/admin/users/"+uid, e.admin, map[string]any{"role": "viewer"}), 200)
			waitFor(t, func() bool { return e.b.do("POST", "/test/contribute", tok, nil).status == 403 })
			wantStatus(t, e.a.do("PATCH", "/api/admin/users/"+uid, e.admin, map[string]any{"active": false}), 200)
			waitFor(t, func() bool { return e.b.do("GET", "/api/auth/me", tok, nil).status == 401 })
		})
	}
}

// waitFor polls cond for up to 2 s, well under the 5 s poll: only a push
// makes it true in time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s (the poll is 5s away: the change was not pushed)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCredentialCacheMaxStaleness: while the database is down, B trusts
// its cached key for auth.cache_max_staleness, then refuses it with 503
// not_ready and Retry-After (logged once), and accepts it again once the
// database is back.
func TestCredentialCacheMaxStaleness(t *testing.T) {
	t.Parallel()
	for _, tr := range outageTransports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			e := newOutageEnv(t, tr.environ(t), "TOLLGATE_AUTH_CACHE_SYNC_INTERVAL=200ms", "TOLLGATE_AUTH_CACHE_MAX_STALENESS=2s")
			_, secret := e.keyOnBoth(t)
			e.pg.Stop()
			var r reply
			deadline := time.Now().Add(30 * time.Second)
			for r = e.b.do("GET", "/v1/models", secret, nil); r.status == 200; r = e.b.do("GET", "/v1/models", secret, nil) {
				if time.Now().After(deadline) {
					t.Fatal("cached key still accepted 30s into the outage (max staleness 2s)")
				}
				time.Sleep(100 * time.Millisecond)
			}
			wantError(t, r, 503, "not_ready", "")
			if typ := r.body["error"].(map[string]any)["type"]; typ != "unavailable_error" {
				t.Fatalf("type = %v", typ)
			}
			if got := r.header.Get("Retry-After"); got != "2" {
				t.Fatalf("Retry-After = %q, want 2", got)
			}
			wantError(t, e.b.do("GET", "/v1/models", secret, nil), 503, "not_ready", "")
			if n := strings.Count(e.a.logs.String(), "credential cache cannot sync"); n != 1 {
				t.Fatalf("the staleness refusal was logged %d times, want once", n)
			}
			e.pg.Start()
			deadline = time.Now().Add(30 * time.Second)
			for e.b.do("GET", "/v1/models", secret, nil).status != 200 {
				if time.Now().After(deadline) {
					t.Fatal("key still refused 30s after the database came back")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !strings.Contains(e.a.logs.String(), "credential cache in sync with the database again") {
				t.Fatal("the recovery was not logged")
			}
		})
	}
}

// TestDatabaseOutageAnswers503: with PostgreSQL frozen (SIGSTOP) and then
// stopped, every route that needs the database answers 503 not_ready with
// Retry-After, within the query timeout (500 ms here) rather than for the
// whole freeze; routes that do not need it keep answering.
func TestDatabaseOutageAnswers503(t *testing.T) {
	t.Parallel()
	e := newOutageEnv(t, nil)
	routes := []struct{ method, path string }{
		{"GET", "/api/admin/users"},
		{"GET", "/api/admin/keys"},
		{"GET", "/api/keys"},
		{"GET", "/api/conversations"},
		{"POST", "/api/conversations"},
		{"GET", "/api/admin/usage"},
		{"GET", "/api/admin/rate-limits/policies"},
	}
	for _, phase := range []struct {
		name string
		do   func()
	}{{"Frozen", e.pg.Freeze}, {"Stopped", func() { e.pg.Thaw(); e.pg.Stop() }}} {
		phase.do()
		for _, rt := range routes {
			var body any
			if rt.method == "POST" {
				body = map[string]any{}
			}
			start := time.Now()
			r := e.a.do(rt.method, rt.path, e.admin, body)
			if took := time.Since(start); took > 20*time.Second {
				t.Fatalf("%s: %s %s took %s (query timeout 500ms)", phase.name, rt.method, rt.path, took)
			}
			if r.status != 503 {
				t.Fatalf("%s: %s %s = %d %s, want 503", phase.name, rt.method, rt.path, r.status, r.raw)
			}
			wantError(t, r, 503, "not_ready", "")
			if got := r.header.Get("Retry-After"); got != "2" {
				t.Fatalf("%s: %s %s Retry-After = %q, want 2", phase.name, rt.method, rt.path, got)
			}
		}
		wantStatus(t, e.a.do("GET", "/healthz", "", nil), 200)
	}
}
