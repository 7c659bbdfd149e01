package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tollgate.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Server.Addr, "127.0.0.1:8080"; got != want {
		t.Fatalf("server.addr = %q, want %q", got, want)
	}
	if got, want := cfg.DatabaseURL(), "sqlite://./data/tollgate.db"; got != want {
		t.Fatalf("database url = %q, want %q", got, want)
	}
	if got, want := cfg.Server.MaxBodyBytes, int64(32<<20); got != want {
		t.Fatalf("max_body_bytes = %d, want %d", got, want)
	}
	if got, want := cfg.RateLimit.Default.RequestsPerMinute, 600; got != want {
		t.Fatalf("rate_limit.default.requests_per_minute = %d, want %d", got, want)
	}
	if got, want := cfg.Usage.RawRetention, 90*24*time.Hour; got != want {
		t.Fatalf("usage.raw_retention = %v, want %v", got, want)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
[server]
addr = "127.0.0.1:1001"
idle_timeout = "7s"
data_dir = "/from/file"

[log]
format = "json"
`)
	env := []string{
		"TOLLGATE_SERVER_ADDR=127.0.0.1:1002",
		"TOLLGATE_LOG_LEVEL=debug",
		"TOLLGATE_RATE_LIMIT_BACKEND=memory",
		"TOLLGATE_SERVER_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.1",
		"TOLLGATE_TEST_POSTGRES_URL=postgres://ignored", // not a config key
	}
	t.Run("FileBelowEnv", func(t *testing.T) {
		cfg, err := Load(Sources{File: file, Environ: env})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.Server.Addr, "127.0.0.1:1002"; got != want {
			t.Fatalf("addr = %q, want %q (env beats file)", got, want)
		}
		if got, want := cfg.Server.DataDir, "/from/file"; got != want {
			t.Fatalf("data_dir = %q, want %q (file beats default)", got, want)
		}
		if got, want := cfg.Server.IdleTimeout, 7*time.Second; got != want {
			t.Fatalf("idle_timeout = %v, want %v", got, want)
		}
		if got, want := cfg.Log.Format, "json"; got != want {
			t.Fatalf("log.format = %q, want %q", got, want)
		}
		if got, want := cfg.Log.Level, "debug"; got != want {
			t.Fatalf("log.level = %q, want %q", got, want)
		}
		if got, want := strings.Join(cfg.Server.TrustedProxies, "|"), "10.0.0.0/8|192.168.1.1"; got != want {
			t.Fatalf("trusted_proxies = %q, want %q", got, want)
		}
	})
	t.Run("FlagBeatsEnv", func(t *testing.T) {
		cfg, err := Load(Sources{File: file, Environ: env, Flags: map[string]any{"server.addr": "127.0.0.1:1003"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg.Server.Addr, "127.0.0.1:1003"; got != want {
			t.Fatalf("addr = %q, want %q", got, want)
		}
	})
}

func TestBadValuesNameTheKey(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		env     []string
		wantKey string
	}{
		{"BadDuration", "[server]\nidle_timeout = \"soon\"\n", nil, "server.idle_timeout"},
		{"BadIntFromEnv", "", []string{"TOLLGATE_SERVER_MAX_BODY_BYTES=lots"}, "server.max_body_bytes"},
		{"UnknownKey", "[server]\nadress = \"x\"\n", nil, "adress"},
		{"BadMode", "", []string{"TOLLGATE_AUTH_MODE=sometimes"}, "auth.mode"},
		{"ShortSecret", "", []string{"TOLLGATE_AUTH_JWT_SECRET=short"}, "auth.jwt_secret"},
		{"OpenOnPublic", "", []string{"TOLLGATE_AUTH_MODE=open", "TOLLGATE_SERVER_ADDR=0.0.0.0:8080"}, "auth.mode"},
		{"BadAddr", "", []string{"TOLLGATE_SERVER_ADDR=8080"}, "server.addr"},
		{"BadMetricsAddr", "", []string{"TOLLGATE_METRICS_ADDR=9090"}, "metrics.addr"},
		{"MetricsAddrIsServerAddr", "", []string{"TOLLGATE_METRICS_ADDR=127.0.0.1:8080"}, "metrics.addr"},
		{"BadMetricsRequireAuth", "", []string{"TOLLGATE_METRICS_REQUIRE_AUTH=maybe"}, "metrics.require_auth"},
		{"BadBackend", "", []string{"TOLLGATE_RATE_LIMIT_BACKEND=etcd"}, "rate_limit.backend"},
		{"RedisWithoutURL", "", []string{"TOLLGATE_RATE_LIMIT_BACKEND=redis"}, "redis.url"},
		{"BadDatabase", "", []string{"TOLLGATE_DATABASE_URL=mysql://x"}, "database.url"},
		{"ZeroQueryTimeout", "", []string{"TOLLGATE_DATABASE_QUERY_TIMEOUT=0s"}, "database.query_timeout"},
		{"NegativeMaxStaleness", "", []string{"TOLLGATE_AUTH_CACHE_MAX_STALENESS=-1s"}, "auth.cache_max_staleness"},
		{"MaxStalenessUnderTwoPolls", "", []string{"TOLLGATE_AUTH_CACHE_SYNC_INTERVAL=5s", "TOLLGATE_AUTH_CACHE_MAX_STALENESS=9s"}, "auth.cache_max_staleness"},
		{"TinyKeyCache", "", []string{"TOLLGATE_AUTH_KEY_CACHE_SIZE=10"}, "auth.key_cache_size"},
		{"UnknownProvider", "[[models]]\nname = \"m\"\nprovider = \"nope\"\n", nil, "models[0].provider"},
		{"NegativeInputPrice", "[[providers]]\nname = \"e\"\ntype = \"echo\"\n[[models]]\nname = \"m\"\nprovider = \"e\"\ninput_price = -1\n", nil, "models[0].input_price"},
		{"NegativeOutputPrice", "[[providers]]\nname = \"e\"\ntype = \"echo\"\n[[models]]\nname = \"m\"\nprovider = \"e\"\noutput_price = -0.5\n", nil, "models[0].output_price"},
		{"NegativeMaxOutput", "[[providers]]\nname = \"e\"\ntype = \"echo\"\n[[models]]\nname = \"m\"\nprovider = \"e\"\nmax_output_tokens = -1\n", nil, "models[0].max_output_tokens"},
		{"EmptyCurrency", "[pricing]\ncurrency = \"\"\n", nil, "pricing.currency"},
		{"ZeroRawRetention", "", []string{"TOLLGATE_USAGE_RAW_RETENTION=0s"}, "usage.raw_retention"},
		{"BadRawRetention", "[usage]\nraw_retention = \"forever\"\n", nil, "usage.raw_retention"},
		{"AuditRetentionZero", "", []string{"TOLLGATE_AUDIT_RETENTION=0s"}, "audit.retention"},
		{"AuditFailedLoginsZero", "[audit]\nmax_failed_login_records_per_minute = 0\n", nil, "audit.max_failed_login_records_per_minute"},
		{"AuditFailedLoginsNotInt", "", []string{"TOLLGATE_AUDIT_MAX_FAILED_LOGIN_RECORDS_PER_MINUTE=many"}, "audit.max_failed_login_records_per_minute"},
		{"AnthropicWithoutBaseURL", "[[providers]]\nname = \"a\"\ntype = \"anthropic\"\n", nil, "providers[0].base_url"},
		{"BadAnthropicVersion", "[[providers]]\nname = \"a\"\ntype = \"anthropic\"\nbase_url = \"https://api.anthropic.com/v1\"\nanthropic_version = \"latest\"\n", nil, "providers[0].anthropic_version"},
		{"AnthropicVersionOnOpenAI", "[[providers]]\nname = \"o\"\ntype = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nanthropic_version = \"2023-06-01\"\n", nil, "providers[0].anthropic_version"},
		{"UnknownProviderType", "[[providers]]\nname = \"x\"\ntype = \"bedrock\"\n", nil, "providers[0].type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := Sources{Environ: tc.env}
			if tc.file != "" {
				src.File = writeFile(t, tc.file)
			} else {
				t.Chdir(t.TempDir())
			}
			_, err := Load(src)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
	t.Run("FieldErrorType", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := Load(Sources{Environ: []string{"TOLLGATE_LOG_FORMAT=xml"}})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != "log.format" {
			t.Fatalf("err = %v, want a FieldError for log.format", err)
		}
	})
	t.Run("OpenOnPublicAllowed", func(t *testing.T) {
		t.Chdir(t.TempDir())
		_, err := Load(Sources{Environ: []string{"TOLLGATE_AUTH_MODE=open", "TOLLGATE_SERVER_ADDR=0.0.0.0:8080", "TOLLGATE_AUTH_ALLOW_OPEN_ON_PUBLIC=true"}})
		if err != nil {
			t.Fatalf("Load = %v, want success with allow_open_on_public", err)
		}
	})
}

func TestPrintRedactsSecrets(t *testing.T) {
	t.Chdir(t.TempDir())
	secret := "0123456789abcdef0123456789abcdef-secret"
	cfg, err := Load(Sources{Environ: []string{
		"TOLLGATE_AUTH_JWT_SECRET=" + secret,
		"TOLLGATE_DATABASE_URL=postgres://app:pgpassword@db.example/tollgate",
		"TOLLGATE_REDIS_URL=redis://:redispassword@127.0.0.1:6379/0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Print()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, leaked := range []string{secret, "pgpassword", "redispassword"} {
		if strings.Contains(s, leaked) {
			t.Fatalf("config print leaks %q:\n%s", leaked, s)
		}
	}
	for _, want := range []string{`jwt_secret = '[redacted]'`, `addr = '127.0.0.1:8080'`, `idle_timeout = '2m0s'`} {
		if !strings.Contains(s, want) {
			t.Fatalf("config print lacks %q:\n%s", want, s)
		}
	}
}

func TestMetricsKeys(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.RequireAuth || cfg.Metrics.Addr != "" {
		t.Fatalf("metrics defaults = %+v, want require_auth false, addr empty", cfg.Metrics)
	}
	cfg, err = Load(Sources{Environ: []string{"TOLLGATE_METRICS_REQUIRE_AUTH=true", "TOLLGATE_METRICS_ADDR=10.0.0.5:9090"}})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Metrics.RequireAuth || cfg.Metrics.Addr != "10.0.0.5:9090" {
		t.Fatalf("metrics from env = %+v", cfg.Metrics)
	}
}
