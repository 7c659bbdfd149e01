// Package config loads Tollgate's configuration: defaults < TOML file <
// TOLLGATE_* environment < flags (SPEC.md section 9), and validates it with
// errors that name the offending key.
package config

import (
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Config is the whole effective configuration.
type Config struct {
	Server    Server     `koanf:"server" toml:"server"`
	Database  Database   `koanf:"database" toml:"database"`
	Log       Log        `koanf:"log" toml:"log"`
	Auth      Auth       `koanf:"auth" toml:"auth"`
	RateLimit RateLimit  `koanf:"rate_limit" toml:"rate_limit"`
	Redis     Redis      `koanf:"redis" toml:"redis"`
	Usage     Usage      `koanf:"usage" toml:"usage"`
	Stream    Stream     `koanf:"stream" toml:"stream"`
	Audit     Audit      `koanf:"audit" toml:"audit"`
	Metrics   Metrics    `koanf:"metrics" toml:"metrics"`
	Providers []Provider `koanf:"providers" toml:"providers"`
	Models    []Model    `koanf:"models" toml:"models"`
	Pricing   Pricing    `koanf:"pricing" toml:"pricing"`

	// File is the config file Load read ("" when none: defaults and
	// environment only). It is not a key.
	File string `koanf:"-" toml:"-"`
}

// Server configures the HTTP listener.
type Server struct {
	Addr              string        `koanf:"addr" toml:"addr"`
	DataDir           string        `koanf:"data_dir" toml:"data_dir"`
	MaxBodyBytes      int64         `koanf:"max_body_bytes" toml:"max_body_bytes"`
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" toml:"read_header_timeout"`
	// ReadTimeout bounds reading a request body (not the response: streams
	// may run longer).
	ReadTimeout time.Duration `koanf:"read_timeout" toml:"read_timeout"`
	// MaxConnections caps open client connections; beyond it new ones wait
	// in the kernel's accept queue. 0 means no cap.
	MaxConnections  int           `koanf:"max_connections" toml:"max_connections"`
	IdleTimeout     time.Duration `koanf:"idle_timeout" toml:"idle_timeout"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" toml:"shutdown_timeout"`
	// ShutdownDelay keeps the listener open (with /readyz answering 503)
	// this long after SIGTERM, so a load balancer drains the instance
	// before it stops accepting.
	ShutdownDelay  time.Duration `koanf:"shutdown_delay" toml:"shutdown_delay"`
	TrustedProxies []string      `koanf:"trusted_proxies" toml:"trusted_proxies"`
	// PublicURL is the origin browsers use to reach Tollgate
	// ("https://gw.example.com"): with https the session cookie is Secure
	// and __Host- prefixed, and cookie requests from this origin pass the
	// cross-origin check even when a proxy changes the Host header. OAuth
	// callback URLs are built from it (required with auth.oauth).
	PublicURL string `koanf:"public_url" toml:"public_url"`
}

// Database selects the store: sqlite://PATH or postgres://...
type Database struct {
	URL          string `koanf:"url" toml:"url"`
	MaxOpenConns int    `koanf:"max_open_conns" toml:"max_open_conns"`
	// QueryTimeout bounds every statement and transaction; a database
	// that does not answer within it is a 503 not_ready.
	QueryTimeout time.Duration `koanf:"query_timeout" toml:"query_timeout"`
	// HeartbeatInterval is how often an instance writes its lease row
	// (also /readyz's write check) and sweeps the replies of instances
	// that are gone.
	HeartbeatInterval time.Duration `koanf:"heartbeat_interval" toml:"heartbeat_interval"`
	// LeaseTimeout is how long after its last heartbeat an instance counts
	// as gone (its pending replies become incomplete).
	LeaseTimeout time.Duration `koanf:"lease_timeout" toml:"lease_timeout"`
}

// Log configures structured logging.
type Log struct {
	Level  string `koanf:"level" toml:"level"`
	Format string `koanf:"format" toml:"format"`
	// Access writes one line per request (method, route pattern, status,
	// duration, principal id, request id); /healthz, /readyz and /metrics
	// are logged only when they fail.
	Access bool `koanf:"access" toml:"access"`
}

// Auth configures identity (SPEC.md section 2).
type Auth struct {
	Mode                string         `koanf:"mode" toml:"mode"`
	AllowOpenOnPublic   bool           `koanf:"allow_open_on_public" toml:"allow_open_on_public"`
	JWTSecret           gateway.Secret `koanf:"jwt_secret" toml:"jwt_secret"`
	Issuer              string         `koanf:"issuer" toml:"issuer"`
	Audience            string         `koanf:"audience" toml:"audience"`
	TokenTTL            time.Duration  `koanf:"token_ttl" toml:"token_ttl"`
	ExchangeTokenTTL    time.Duration  `koanf:"exchange_token_ttl" toml:"exchange_token_ttl"`
	EndUserHeader       string         `koanf:"end_user_header" toml:"end_user_header"`
	RegistrationEnabled bool           `koanf:"registration_enabled" toml:"registration_enabled"`
	DefaultRole         string         `koanf:"default_role" toml:"default_role"`
	AllowedEmailDomains []string       `koanf:"allowed_email_domains" toml:"allowed_email_domains"`
	LoginRatePerMinute  int            `koanf:"login_rate_per_minute" toml:"login_rate_per_minute"`
	// RegisterRatePerMinute limits setup and registration attempts per
	// client IP, like LoginRatePerMinute.
	RegisterRatePerMinute int `koanf:"register_rate_per_minute" toml:"register_rate_per_minute"`
	// PasswordHashConcurrency bounds concurrent argon2id hashes and
	// verifications (0: derived from GOMAXPROCS and memory);
	// PasswordHashWait is how long a password check queues for a slot
	// before 503 overloaded.
	PasswordHashConcurrency int           `koanf:"password_hash_concurrency" toml:"password_hash_concurrency"`
	PasswordHashWait        time.Duration `koanf:"password_hash_wait" toml:"password_hash_wait"`
	SessionIdle             time.Duration `koanf:"session_idle" toml:"session_idle"`
	SessionAbsolute         time.Duration `koanf:"session_absolute" toml:"session_absolute"`
	MaxSessionsPerUser      int           `koanf:"max_sessions_per_user" toml:"max_sessions_per_user"`
	// CacheSyncInterval is how often an instance polls the database for
	// credential changes made by other instances (at most 5s per SPEC).
	CacheSyncInterval time.Duration `koanf:"cache_sync_interval" toml:"cache_sync_interval"`
	// CacheMaxStaleness is how long cached credential decisions are
	// trusted while the cache cannot sync with the database.
	CacheMaxStaleness time.Duration `koanf:"cache_max_staleness" toml:"cache_max_staleness"`
	// KeyCacheSize bounds the API keys held in memory (least recently
	// used evicted).
	KeyCacheSize int           `koanf:"key_cache_size" toml:"key_cache_size"`
	StaticTokens []StaticToken `koanf:"static_tokens" toml:"static_tokens"`
	// OAuth are the OAuth 2.0 / OpenID Connect sign-in providers (SPEC 4).
	OAuth []OAuthProvider `koanf:"oauth" toml:"oauth"`
}

// OAuthProvider is one [[auth.oauth]] sign-in provider. Its client secret
// comes from the environment variable ClientSecretEnv (github, oidc), never
// the file; apple builds its client secret from TeamID, KeyID and the ES256
// key in PrivateKeyFile.
type OAuthProvider struct {
	Name                string   `koanf:"name" toml:"name"`
	Type                string   `koanf:"type" toml:"type"`
	ClientID            string   `koanf:"client_id" toml:"client_id"`
	ClientSecretEnv     string   `koanf:"client_secret_env" toml:"client_secret_env"`
	Issuer              string   `koanf:"issuer" toml:"issuer"`
	Scopes              []string `koanf:"scopes" toml:"scopes"`
	AllowedEmailDomains []string `koanf:"allowed_email_domains" toml:"allowed_email_domains"`
	AutoRegister        bool     `koanf:"auto_register" toml:"auto_register"`
	// DefaultRole of users it registers; "" means auth.default_role.
	DefaultRole    string `koanf:"default_role" toml:"default_role"`
	TeamID         string `koanf:"team_id" toml:"team_id"`
	KeyID          string `koanf:"key_id" toml:"key_id"`
	PrivateKeyFile string `koanf:"private_key_file" toml:"private_key_file"`
}

// StaticToken is a token defined in config; its secret comes from TokenEnv.
type StaticToken struct {
	Name        string `koanf:"name" toml:"name"`
	TokenEnv    string `koanf:"token_env" toml:"token_env"`
	Role        string `koanf:"role" toml:"role"`
	EndUserMode bool   `koanf:"end_user_mode" toml:"end_user_mode"`
}

// RateLimit configures the limiter (SPEC.md section 5).
type RateLimit struct {
	Backend string `koanf:"backend" toml:"backend"`
	Default Policy `koanf:"default" toml:"default"`
}

// Policy is a rate-limit policy as written in config.
type Policy struct {
	RequestsPerMinute int `koanf:"requests_per_minute" toml:"requests_per_minute"`
	Burst             int `koanf:"burst" toml:"burst"`
	TokensPerMinute   int `koanf:"tokens_per_minute" toml:"tokens_per_minute"`
}

// Redis configures the shared Redis used for limits and notifications.
type Redis struct {
	URL gateway.Secret `koanf:"url" toml:"url"`
	// KeyPrefix starts every key Tollgate writes, so several deployments
	// (or test runs) can share one Redis.
	KeyPrefix string `koanf:"key_prefix" toml:"key_prefix"`
}

// Usage configures the background usage writer.
type Usage struct {
	FlushInterval time.Duration `koanf:"flush_interval" toml:"flush_interval"`
	BatchSize     int           `koanf:"batch_size" toml:"batch_size"`
	QueueSize     int           `koanf:"queue_size" toml:"queue_size"`
	// RawRetention is how long raw usage records are kept; the daily
	// rollups are kept for good.
	RawRetention time.Duration `koanf:"raw_retention" toml:"raw_retention"`
}

// Stream configures the live conversation events (SPEC 7.1).
type Stream struct {
	// Backend carries events between instances: "auto" (SQLite: in
	// process; PostgreSQL: Redis pub/sub when redis.url is set, else
	// LISTEN/NOTIFY), "memory", "postgres" or "redis".
	Backend                  string        `koanf:"backend" toml:"backend"`
	Retention                time.Duration `koanf:"retention" toml:"retention"`
	MaxEventsPerConversation int           `koanf:"max_events_per_conversation" toml:"max_events_per_conversation"`
	SubscriberBuffer         int           `koanf:"subscriber_buffer" toml:"subscriber_buffer"`
	// CheckpointInterval is how often the text of a streaming reply is
	// written to its pending message.
	CheckpointInterval time.Duration `koanf:"checkpoint_interval" toml:"checkpoint_interval"`
	// FinishRetry bounds the retries of a reply's final write while the
	// poster waits.
	FinishRetry time.Duration `koanf:"finish_retry" toml:"finish_retry"`
}

// Audit configures the audit log (SPEC 8.1).
type Audit struct {
	// Retention is how long records are kept (default 365 days); older
	// ones are pruned every hour, the chain anchored at the cut.
	Retention time.Duration `koanf:"retention" toml:"retention"`
	// MaxFailedLoginRecordsPerMinute bounds the auth.login_failed records
	// of one instance per minute; the rest are counted.
	MaxFailedLoginRecordsPerMinute int `koanf:"max_failed_login_records_per_minute" toml:"max_failed_login_records_per_minute"`
}

// Metrics configures GET /metrics.
type Metrics struct {
	// RequireAuth makes /metrics an admin route (401/403 like any other).
	RequireAuth bool `koanf:"require_auth" toml:"require_auth"`
	// Addr, when set, serves /metrics on a listener of its own (for a
	// private network); the main listener then answers /metrics 404.
	Addr string `koanf:"addr" toml:"addr"`
}

// Provider is an upstream LLM backend (SPEC.md section 6).
type Provider struct {
	Name      string        `koanf:"name" toml:"name"`
	Type      string        `koanf:"type" toml:"type"`
	BaseURL   string        `koanf:"base_url" toml:"base_url"`
	APIKeyEnv string        `koanf:"api_key_env" toml:"api_key_env"`
	Timeout   time.Duration `koanf:"timeout" toml:"timeout"`
	// AnthropicVersion is the anthropic-version header of an anthropic
	// provider ("" means 2023-06-01).
	AnthropicVersion string `koanf:"anthropic_version" toml:"anthropic_version"`
}

// Model maps a client-facing model name to a provider's model.
type Model struct {
	Name          string   `koanf:"name" toml:"name"`
	Provider      string   `koanf:"provider" toml:"provider"`
	UpstreamModel string   `koanf:"upstream_model" toml:"upstream_model"`
	Fallbacks     []string `koanf:"fallbacks" toml:"fallbacks"`
	// InputPrice and OutputPrice are what the model costs in
	// pricing.currency units per million prompt / completion tokens.
	InputPrice  float64 `koanf:"input_price" toml:"input_price"`
	OutputPrice float64 `koanf:"output_price" toml:"output_price"`
	// MaxOutputTokens is the most a completion of this model may produce;
	// budgets reserve it for a request that sets no max_tokens (0: 4096).
	MaxOutputTokens int64 `koanf:"max_output_tokens" toml:"max_output_tokens"`
}

// Pricing names the currency of every price and budget.
type Pricing struct {
	Currency string `koanf:"currency" toml:"currency"`
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		Server: Server{
			Addr:              "127.0.0.1:8080",
			DataDir:           "./data",
			MaxBodyBytes:      32 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			MaxConnections:    4096,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   30 * time.Second,
			TrustedProxies:    []string{},
		},
		Database: Database{URL: "", MaxOpenConns: 20, QueryTimeout: 5 * time.Second, HeartbeatInterval: 5 * time.Second, LeaseTimeout: 30 * time.Second},
		Log:      Log{Level: "info", Format: "text", Access: true},
		Auth: Auth{
			Mode:                  "auto",
			Issuer:                "tollgate",
			Audience:              "tollgate",
			TokenTTL:              24 * time.Hour,
			ExchangeTokenTTL:      time.Hour,
			EndUserHeader:         "X-End-User-Id",
			DefaultRole:           "contributor",
			AllowedEmailDomains:   []string{},
			LoginRatePerMinute:    10,
			RegisterRatePerMinute: 10,
			PasswordHashWait:      5 * time.Second,
			SessionIdle:           8 * time.Hour,
			SessionAbsolute:       7 * 24 * time.Hour,
			MaxSessionsPerUser:    5,
			CacheSyncInterval:     2 * time.Second,
			CacheMaxStaleness:     60 * time.Second,
			KeyCacheSize:          100_000,
			StaticTokens:          []StaticToken{},
			OAuth:                 []OAuthProvider{},
		},
		Redis:     Redis{KeyPrefix: "tollgate:"},
		RateLimit: RateLimit{Backend: "memory", Default: Policy{RequestsPerMinute: 600, Burst: 100}},
		Usage:     Usage{FlushInterval: time.Second, BatchSize: 500, QueueSize: 65536, RawRetention: 90 * 24 * time.Hour},
		Stream: Stream{Backend: "auto", Retention: 48 * time.Hour, MaxEventsPerConversation: 10000, SubscriberBuffer: 256,
			CheckpointInterval: time.Second, FinishRetry: 30 * time.Second},
		Audit:     Audit{Retention: 365 * 24 * time.Hour, MaxFailedLoginRecordsPerMinute: 600},
		Providers: []Provider{},
		Models:    []Model{},
		Pricing:   Pricing{Currency: "USD"},
	}
}

// DatabaseURL returns database.url, or the SQLite file in data_dir when unset.
func (c *Config) DatabaseURL() string {
	if c.Database.URL != "" {
		return c.Database.URL
	}
	return "sqlite://" + c.Server.DataDir + "/tollgate.db"
}
