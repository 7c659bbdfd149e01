package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLILoginWhoamiChatLogout(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.setup() // required mode from now on
	cfgHome := t.TempDir()
	run := func(stdin string, args ...string) (string, string, error) {
		return runCLI([]string{"XDG_CONFIG_HOME=" + cfgHome}, stdin, args...)
	}

	var plain bytes.Buffer
	root := newRootCmd(env{stdin: strings.NewReader(""), stdout: &plain, stderr: &plain,
		environ: func() []string { return []string{"XDG_CONFIG_HOME=" + cfgHome, "TOLLGATE_SERVER=" + e.url} }})
	root.SetArgs([]string{"whoami"})
	if err := root.ExecuteContext(context.Background()); err == nil || err.Error() != "not logged in: run `tollgate login` or set TOLLGATE_API_KEY" {
		t.Fatalf("whoami before login = %v, want not logged in", err)
	}
	if _, _, err := run("wrong password\n", "login", "--server", e.url, "--email", "admin@example.com"); err == nil || !strings.Contains(err.Error(), "invalid_credentials") {
		t.Fatalf("login with a wrong password = %v, want invalid_credentials", err)
	}
	out, _, err := run("admin@example.com\n"+adminPassword+"\n", "login", "--server", e.url)
	if err != nil || !strings.HasPrefix(out, "logged in to "+e.url+" as admin@example.com (admin)") {
		t.Fatalf("login = %q, %v", out, err)
	}
	p := filepath.Join(cfgHome, "tollgate", "credentials.json")
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	var creds credentials
	b, _ := os.ReadFile(p)
	if json.Unmarshal(b, &creds) != nil || creds.Server != e.url || strings.Count(creds.AccessToken, ".") != 2 {
		t.Fatalf("stored credentials = %s", b)
	}
	if out, _, err := run("", "whoami"); err != nil || out != "admin@example.com (admin) on "+e.url+"\n" {
		t.Fatalf("whoami = %q, %v", out, err)
	}
	if out, _, err := run("", "chat", "hello there"); err != nil || out != "hello there\n" {
		t.Fatalf("chat with the stored token = %q, %v", out, err)
	}
	if out, _, err := run("", "logout"); err != nil || out != "logged out\n" {
		t.Fatalf("logout = %q, %v", out, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("credentials file still there after logout: %v", err)
	}
	// The server revoked the token too.
	r := e.do("GET", "/api/auth/me", creds.AccessToken, nil)
	wantError(t, r, 401, "invalid_authorization", "")
}
