package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"
)

// TestCommonPasswordsRefusedEverywhere: every place that sets a password
// (setup, registration, admin create, admin PATCH, CLI user create)
// refuses the most common passwords, compared case-insensitively, with 400
// invalid_request_error weak_password, param body.password; an uncommon
// password passes each of them.
func TestCommonPasswordsRefusedEverywhere(t *testing.T) {
	t.Parallel()
	weak := []string{"password", "12345678", "PassWord", "QWERTYUIOP", "iloveyou1", "Password123"}
	const wantMsg = "password is one of the most commonly used passwords; choose another (body.password)"

	e := newAuthEnv(t, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true", "TOLLGATE_AUTH_REGISTER_RATE_PER_MINUTE=100",
		"TOLLGATE_AUTH_LOGIN_RATE_PER_MINUTE=100")
	wantWeak := func(t *testing.T, r reply) {
		t.Helper()
		wantError(t, r, http.StatusBadRequest, "weak_password", "body.password")
		if _, typ, _ := r.err(); typ != "invalid_request_error" || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("type %s, Content-Type %q", typ, r.header.Get("Content-Type"))
		}
	}
	t.Run("Setup", func(t *testing.T) {
		for _, pw := range weak {
			wantWeak(t, e.do("POST", "/api/setup", "", map[string]string{"email": "admin@example.com", "password": pw}))
		}
	})
	admin := e.setup()
	uid := e.createUser(admin, "u@example.com", "uncommon pass 1", "viewer")
	for _, tc := range []struct {
		name string
		do   func(i int, pw string) reply
		ok   int
	}{
		{"Register", func(i int, pw string) reply {
			return e.do("POST", "/api/auth/register", "", map[string]string{"email": fmt.Sprintf("r%d@example.com", i), "password": pw})
		}, 201},
		{"AdminCreate", func(i int, pw string) reply {
			return e.do("POST", "/api/admin/users", admin, map[string]string{"email": fmt.Sprintf("c%d@example.com", i), "password": pw, "role": "viewer"})
		}, 201},
		{"AdminPatch", func(_ int, pw string) reply {
			return e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]string{"password": pw})
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, pw := range weak {
				wantWeak(t, tc.do(i, pw))
			}
			wantStatus(t, tc.do(len(weak), "uncommon pass 2"), tc.ok)
		})
	}
	t.Run("AdminPatchSetsPassword", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/auth/login", "", map[string]string{"email": "u@example.com", "password": "uncommon pass 1"}),
			401, "invalid_credentials", "")
		e.login("u@example.com", "uncommon pass 2")
		wantError(t, e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]string{"password": ""}), 400, "missing_field", "body.password")
		wantWeak(t, e.do("PATCH", "/api/admin/users/"+uid, admin, map[string]string{"password": "short"}))
	})
	t.Run("CLIUserCreate", func(t *testing.T) {
		environ := []string{"TOLLGATE_SERVER_DATA_DIR=" + e.app.cfg.Server.DataDir, "TOLLGATE_SERVER_ADDR=127.0.0.1:0"}
		for i, pw := range weak {
			_, _, err := runCLI(environ, pw+"\n", "user", "create", "--email", fmt.Sprintf("cli%d@example.com", i), "--role", "viewer", "--password-stdin")
			if err == nil || err.Error() != wantMsg {
				t.Fatalf("user create with %q: err = %v, want %q", pw, err, wantMsg)
			}
		}
		if _, _, err := runCLI(environ, "uncommon pass 3\n", "user", "create", "--email", "cli@example.com", "--role", "viewer", "--password-stdin"); err != nil {
			t.Fatal(err)
		}
		startAuthEnv(t, e.app.cfg, slog.New(slog.DiscardHandler), &syncBuffer{}, e.deps).login("cli@example.com", "uncommon pass 3")
	})
}
