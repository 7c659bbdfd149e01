package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// anthropicVersion is the form of an anthropic-version header value.
var anthropicVersion = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// FieldError is a validation error about one key.
type FieldError struct {
	Key     string
	Message string
}

func (e *FieldError) Error() string { return "config: " + e.Key + ": " + e.Message }

func bad(key, format string, args ...any) error {
	return &FieldError{Key: key, Message: fmt.Sprintf(format, args...)}
}

// Validate checks every key and returns a *FieldError naming the first bad
// one.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Server.Addr); err != nil {
		return bad("server.addr", "must be HOST:PORT, got %q", c.Server.Addr)
	}
	if c.Server.DataDir == "" {
		return bad("server.data_dir", "must not be empty")
	}
	if c.Server.MaxBodyBytes <= 0 {
		return bad("server.max_body_bytes", "must be positive")
	}
	if c.Server.ShutdownDelay < 0 {
		return bad("server.shutdown_delay", "must not be negative (0: none)")
	}
	if c.Server.MaxConnections < 0 {
		return bad("server.max_connections", "must not be negative (0: no cap)")
	}
	for name, d := range map[string]time.Duration{
		"server.read_header_timeout": c.Server.ReadHeaderTimeout,
		"server.read_timeout":        c.Server.ReadTimeout,
		"server.idle_timeout":        c.Server.IdleTimeout,
		"server.shutdown_timeout":    c.Server.ShutdownTimeout,
		"auth.token_ttl":             c.Auth.TokenTTL,
		"auth.exchange_token_ttl":    c.Auth.ExchangeTokenTTL,
		"auth.session_idle":          c.Auth.SessionIdle,
		"auth.session_absolute":      c.Auth.SessionAbsolute,
		"auth.cache_sync_interval":   c.Auth.CacheSyncInterval,
		"auth.cache_max_staleness":   c.Auth.CacheMaxStaleness,
		"database.query_timeout":     c.Database.QueryTimeout,
		"auth.password_hash_wait":    c.Auth.PasswordHashWait,
		"usage.flush_interval":       c.Usage.FlushInterval,
		"usage.raw_retention":        c.Usage.RawRetention,
		"stream.retention":           c.Stream.Retention,
		"audit.retention":            c.Audit.Retention,
	} {
		if d <= 0 {
			return bad(name, "must be a positive duration such as \"30s\"")
		}
	}
	if c.Auth.CacheSyncInterval > 5*time.Second {
		return bad("auth.cache_sync_interval", "must be at most 5s")
	}
	if c.Auth.CacheMaxStaleness < 2*c.Auth.CacheSyncInterval {
		return bad("auth.cache_max_staleness", "must be at least twice auth.cache_sync_interval (%s)", c.Auth.CacheSyncInterval)
	}
	if c.Auth.KeyCacheSize < 100 {
		return bad("auth.key_cache_size", "must be at least 100")
	}
	for _, p := range c.Server.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			return bad("server.trusted_proxies", "%q is not an IP address or CIDR prefix", p)
		}
	}
	if p := c.Server.PublicURL; p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
			return bad("server.public_url", "must be an origin such as \"https://gateway.example.com\" (http or https, no path, no trailing slash), got %q", p)
		}
	}
	dbURL := c.DatabaseURL()
	if !strings.HasPrefix(dbURL, "sqlite://") && !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return bad("database.url", "must start with sqlite:// or postgres://")
	}
	if c.Database.MaxOpenConns <= 0 {
		return bad("database.max_open_conns", "must be positive")
	}
	if c.Database.HeartbeatInterval < 100*time.Millisecond {
		return bad("database.heartbeat_interval", "must be at least 100ms")
	}
	if c.Database.LeaseTimeout < 2*c.Database.HeartbeatInterval {
		return bad("database.lease_timeout", "must be at least twice database.heartbeat_interval (%s)", c.Database.HeartbeatInterval)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	switch c.RateLimit.Backend {
	case "memory":
	case "redis":
		if c.Redis.URL == "" {
			return bad("redis.url", "is required when rate_limit.backend = \"redis\"")
		}
	default:
		return bad("rate_limit.backend", "must be memory or redis, got %q", c.RateLimit.Backend)
	}
	if c.Redis.URL != "" {
		if _, err := url.Parse(c.Redis.URL.Reveal()); err != nil || !strings.HasPrefix(c.Redis.URL.Reveal(), "redis") {
			return bad("redis.url", "must be a redis:// or rediss:// URL")
		}
	}
	if c.Redis.KeyPrefix == "" {
		return bad("redis.key_prefix", "must not be empty")
	}
	if p := c.RateLimit.Default; p.RequestsPerMinute <= 0 || p.Burst <= 0 || p.TokensPerMinute < 0 {
		return bad("rate_limit.default", "requests_per_minute and burst must be positive, tokens_per_minute not negative")
	}
	if c.Stream.MaxEventsPerConversation <= 0 {
		return bad("stream.max_events_per_conversation", "must be positive")
	}
	if n := c.Audit.MaxFailedLoginRecordsPerMinute; n <= 0 || n > 1_000_000 {
		return bad("audit.max_failed_login_records_per_minute", "must be from 1 to 1000000")
	}
	if c.Stream.SubscriberBuffer <= 0 {
		return bad("stream.subscriber_buffer", "must be positive")
	}
	if c.Stream.CheckpointInterval < 100*time.Millisecond {
		return bad("stream.checkpoint_interval", "must be at least 100ms")
	}
	if c.Stream.FinishRetry < 0 || c.Stream.FinishRetry > 10*time.Minute {
		return bad("stream.finish_retry", "must be between 0 and 10m")
	}
	switch c.Stream.Backend {
	case "auto", "memory":
	case "postgres":
		if !strings.HasPrefix(c.DatabaseURL(), "postgres") {
			return bad("stream.backend", "postgres needs database.url = postgres://...")
		}
	case "redis":
		if c.Redis.URL == "" {
			return bad("redis.url", "is required when stream.backend = \"redis\"")
		}
	default:
		return bad("stream.backend", "must be auto, memory, postgres or redis, got %q", c.Stream.Backend)
	}
	if c.Usage.BatchSize <= 0 {
		return bad("usage.batch_size", "must be positive")
	}
	if c.Usage.QueueSize <= 0 {
		return bad("usage.queue_size", "must be positive")
	}
	if a := c.Metrics.Addr; a != "" {
		_, port, err := net.SplitHostPort(a)
		if err != nil || port == "" {
			return bad("metrics.addr", "must be HOST:PORT (or empty: /metrics on server.addr), got %q", a)
		}
		if a == c.Server.Addr && port != "0" {
			return bad("metrics.addr", "must differ from server.addr (%q)", a)
		}
	}
	return c.validateModels()
}

func (c *Config) validateAuth() error {
	a := &c.Auth
	switch a.Mode {
	case "auto", "required":
	case "open":
		if !IsLoopback(c.Server.Addr) && !a.AllowOpenOnPublic {
			return bad("auth.mode", "\"open\" is allowed only on a loopback address (server.addr = %q); set auth.allow_open_on_public = true to override", c.Server.Addr)
		}
	default:
		return bad("auth.mode", "must be auto, required or open, got %q", a.Mode)
	}
	if a.JWTSecret != "" && len(a.JWTSecret.Reveal()) < 32 {
		return bad("auth.jwt_secret", "must be at least 32 bytes")
	}
	if a.Issuer == "" {
		return bad("auth.issuer", "must not be empty")
	}
	if a.Audience == "" {
		return bad("auth.audience", "must not be empty")
	}
	if a.EndUserHeader == "" || strings.ContainsAny(a.EndUserHeader, " :\t") {
		return bad("auth.end_user_header", "must be a header name")
	}
	if _, err := gateway.ParseRole(a.DefaultRole); err != nil {
		return bad("auth.default_role", "%v", err)
	}
	if a.LoginRatePerMinute <= 0 {
		return bad("auth.login_rate_per_minute", "must be positive")
	}
	if a.RegisterRatePerMinute <= 0 {
		return bad("auth.register_rate_per_minute", "must be positive")
	}
	if a.PasswordHashConcurrency < 0 {
		return bad("auth.password_hash_concurrency", "must not be negative (0 derives it from GOMAXPROCS and memory)")
	}
	if a.MaxSessionsPerUser <= 0 {
		return bad("auth.max_sessions_per_user", "must be positive")
	}
	seen := map[string]bool{}
	for i, st := range a.StaticTokens {
		key := fmt.Sprintf("auth.static_tokens[%d]", i)
		if st.Name == "" || seen[st.Name] {
			return bad(key+".name", "must be set and unique")
		}
		seen[st.Name] = true
		if st.TokenEnv == "" {
			return bad(key+".token_env", "must name the environment variable that holds the token")
		}
		if _, err := gateway.ParseRole(st.Role); err != nil {
			return bad(key+".role", "%v", err)
		}
	}
	return c.validateOAuth()
}

// validateOAuth checks every [[auth.oauth]] provider.
func (c *Config) validateOAuth() error {
	if len(c.Auth.OAuth) > 0 && c.Server.PublicURL == "" {
		return bad("server.public_url", "is required when auth.oauth providers are configured (callback URLs are built from it)")
	}
	names := map[string]bool{}
	for i, p := range c.Auth.OAuth {
		key := fmt.Sprintf("auth.oauth[%d]", i)
		if !oauthName(p.Name) || names[p.Name] {
			return bad(key+".name", "must be set, unique, and 1-64 characters of a-z, 0-9, - and _, got %q", p.Name)
		}
		names[p.Name] = true
		if p.ClientID == "" {
			return bad(key+".client_id", "must be set")
		}
		switch p.Type {
		case "github":
			if p.Issuer != "" {
				return bad(key+".issuer", "is only for type oidc")
			}
		case "oidc":
			u, err := url.Parse(p.Issuer)
			if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
				return bad(key+".issuer", "must be the issuer's https URL (its discovery document is at <issuer>/.well-known/openid-configuration), got %q", p.Issuer)
			}
		case "apple":
			if p.Issuer != "" {
				return bad(key+".issuer", "is only for type oidc (apple's issuer is https://appleid.apple.com)")
			}
			if p.ClientSecretEnv != "" {
				return bad(key+".client_secret_env", "is not used by apple: the client secret is made from team_id, key_id and private_key_file")
			}
			for k, v := range map[string]string{"team_id": p.TeamID, "key_id": p.KeyID, "private_key_file": p.PrivateKeyFile} {
				if v == "" {
					return bad(key+"."+k, "must be set for type apple")
				}
			}
		default:
			return bad(key+".type", "must be github, oidc or apple, got %q", p.Type)
		}
		if p.Type != "apple" {
			if p.ClientSecretEnv == "" {
				return bad(key+".client_secret_env", "must name the environment variable that holds the client secret")
			}
			if p.TeamID != "" || p.KeyID != "" || p.PrivateKeyFile != "" {
				return bad(key+".team_id", "team_id, key_id and private_key_file are only for type apple")
			}
		}
		if p.DefaultRole != "" {
			if _, err := gateway.ParseRole(p.DefaultRole); err != nil {
				return bad(key+".default_role", "%v", err)
			}
		}
		for _, d := range p.AllowedEmailDomains {
			if d == "" || strings.ContainsAny(d, "@ /") {
				return bad(key+".allowed_email_domains", "%q is not a domain name", d)
			}
		}
		for _, s := range p.Scopes {
			if s == "" || strings.ContainsAny(s, " \t") {
				return bad(key+".scopes", "%q is not a scope (one scope per list entry)", s)
			}
		}
	}
	return nil
}

func oauthName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

func (c *Config) validateModels() error {
	providers := map[string]bool{}
	for i, p := range c.Providers {
		key := fmt.Sprintf("providers[%d]", i)
		if p.Name == "" || providers[p.Name] {
			return bad(key+".name", "must be set and unique")
		}
		providers[p.Name] = true
		switch p.Type {
		case "openai", "anthropic":
			u, err := url.Parse(p.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(key+".base_url", "must be an http(s) URL, got %q", p.BaseURL)
			}
		case "echo":
		default:
			return bad(key+".type", "must be openai, anthropic or echo, got %q", p.Type)
		}
		if p.AnthropicVersion != "" && (p.Type != "anthropic" || !anthropicVersion.MatchString(p.AnthropicVersion)) {
			return bad(key+".anthropic_version", "must be a date like 2023-06-01, on an anthropic provider only; got %q", p.AnthropicVersion)
		}
		if p.Timeout < 0 {
			return bad(key+".timeout", "must not be negative")
		}
	}
	if c.Pricing.Currency == "" {
		return bad("pricing.currency", "must be set")
	}
	models := map[string]bool{}
	for i, m := range c.Models {
		key := fmt.Sprintf("models[%d]", i)
		if m.Name == "" || models[m.Name] {
			return bad(key+".name", "must be set and unique")
		}
		models[m.Name] = true
		if !providers[m.Provider] {
			return bad(key+".provider", "names no configured provider: %q", m.Provider)
		}
		if m.InputPrice < 0 || m.InputPrice > 1e6 {
			return bad(key+".input_price", "must be between 0 and 1000000")
		}
		if m.OutputPrice < 0 || m.OutputPrice > 1e6 {
			return bad(key+".output_price", "must be between 0 and 1000000")
		}
		if m.MaxOutputTokens < 0 {
			return bad(key+".max_output_tokens", "must not be negative")
		}
	}
	for i, m := range c.Models {
		for _, f := range m.Fallbacks {
			if !models[f] || f == m.Name {
				return bad(fmt.Sprintf("models[%d].fallbacks", i), "names no other configured model: %q", f)
			}
		}
	}
	return nil
}

// IsLoopback reports whether a listen address binds only to loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ParsePrefix parses an IP address or CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}
