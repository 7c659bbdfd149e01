package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEnvErrorsNameVariableAndValue: a bad environment value names the
// variable, the value and what it should be.
func TestEnvErrorsNameVariableAndValue(t *testing.T) {
	cases := []struct{ env, want string }{
		{"TOLLGATE_SERVER_SHUTDOWN_TIMEOUT=abc", `config: TOLLGATE_SERVER_SHUTDOWN_TIMEOUT="abc" (server.shutdown_timeout): not a duration (e.g. 30s, 5m, 1h)`},
		{"TOLLGATE_SERVER_MAX_BODY_BYTES=lots", `config: TOLLGATE_SERVER_MAX_BODY_BYTES="lots" (server.max_body_bytes): not an integer`},
		{"TOLLGATE_LOG_ACCESS=perhaps", `config: TOLLGATE_LOG_ACCESS="perhaps" (log.access): not a boolean (true or false)`},
	}
	for _, tc := range cases {
		t.Run(tc.env, func(t *testing.T) {
			t.Chdir(t.TempDir())
			_, err := Load(Sources{Environ: []string{tc.env}})
			var ee *EnvError
			if !errors.As(err, &ee) || err.Error() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

// TestFileErrorsNameTheSection: a mistyped section is reported as an
// unknown section, a mistyped key within a known section names both.
func TestFileErrorsNameTheSection(t *testing.T) {
	cases := []struct{ name, file, key, msg string }{
		{"UnknownSection", "[sever]\naddr = \"127.0.0.1:1\"\n", "sever",
			"unknown section [sever] in %s (sections: audit, auth, database, log, metrics, pricing, rate_limit, redis, server, stream, usage)"},
		{"UnknownSubsection", "[rate_limit.defualt]\nburst = 1\n", "rate_limit.defualt", "unknown section [rate_limit.defualt] in %s"},
		{"UnknownKey", "[server]\nadress = \"x\"\n", "server.adress", "unknown key in section [server] of %s"},
		{"TopLevelKey", "addr = \"x\"\n", "addr", "unknown top-level key in %s (keys belong in a section such as [server])"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.file)
			_, err := Load(Sources{File: p})
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if want := fmtPath(tc.msg, p); fe.Key != tc.key || fe.Message != want {
				t.Fatalf("error = %s: %s, want %s: %s", fe.Key, fe.Message, tc.key, want)
			}
		})
	}
	t.Run("KnownTablesPass", func(t *testing.T) {
		p := writeFile(t, "[rate_limit.default]\nburst = 5\nrequests_per_minute = 60\n[[providers]]\nname = \"p\"\ntype = \"openai\"\nbase_url = \"http://127.0.0.1:1\"\n")
		cfg, err := Load(Sources{File: p})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.File != p {
			t.Fatalf("cfg.File = %q, want %q", cfg.File, p)
		}
	})
}

func fmtPath(msg, p string) string { return strings.ReplaceAll(msg, "%s", p) }

func writeFileAt(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigFileRecorded(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg, err := Load(Sources{})
	if err != nil || cfg.File != "" {
		t.Fatalf("no file: File = %q, %v; want empty", cfg.File, err)
	}
	writeFileAt(t, filepath.Join(dir, DefaultFile), "")
	cfg, err = Load(Sources{})
	if err != nil || cfg.File != DefaultFile {
		t.Fatalf("default file: File = %q, %v; want %q", cfg.File, err, DefaultFile)
	}
}

// TestUnknownEnv: TOLLGATE_* variables that are not keys are reported,
// except TOLLGATE_TEST_*, the CLI's own and those the config names.
func TestUnknownEnv(t *testing.T) {
	cfg := &Config{Auth: Auth{StaticTokens: []StaticToken{{TokenEnv: "TOLLGATE_CI_TOKEN"}}},
		Providers: []Provider{{APIKeyEnv: "TOLLGATE_OPENAI_KEY"}}}
	got := cfg.UnknownEnv([]string{
		"TOLLGATE_SERVER_ADR=x", "TOLLGATE_SERVER_ADDR=127.0.0.1:1", "TOLLGATE_TEST_POSTGRES_URL=x",
		"TOLLGATE_TEST_AS_MAIN=1", "TOLLGATE_API_KEY=k", "TOLLGATE_SERVER=http://x", "TOLLGATE_CI_TOKEN=t",
		"TOLLGATE_OPENAI_KEY=k", "TOLLGATE_LOGLEVEL=debug", "HOME=/root", "TOLLGATE_SERVER_ADR=y",
	})
	if want := []string{"TOLLGATE_LOGLEVEL", "TOLLGATE_SERVER_ADR"}; !slices.Equal(got, want) {
		t.Fatalf("UnknownEnv = %q, want %q", got, want)
	}
}
