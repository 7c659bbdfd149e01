package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/llm/echo"
)

// logStartup writes the start-up summary: one "tollgate started" record
// with what an operator needs to check first (the URL to open, auth,
// database, models, rate limits, config file), then a warning when
// requests need no credential.
func (a *app) logStartup(ctx context.Context, addr net.Addr) {
	cfg, log := a.cfg, a.log
	url := openURL(addr)
	authMode := "required"
	if a.identity.Open() {
		authMode = "open"
	}
	attrs := []any{
		"url", url,
		"version", version,
		slog.Group("auth", "mode", authMode, "configured", cfg.Auth.Mode),
		slog.Group("database", databaseAttrs(a.store.Engine(), cfg.DatabaseURL())...),
		"models", strings.Join(modelSummary(cfg), ", "),
		"providers", strings.Join(providerSummary(cfg), ", "),
		slog.Group("rate_limit", rateLimitAttrs(ctx, a)...),
		"config_file", configFile(cfg),
		"access_log", cfg.Log.Access,
	}
	if a.metricsAddr != nil {
		attrs = append(attrs, "metrics_url", openURL(a.metricsAddr)+"metrics")
	}
	log.InfoContext(ctx, "tollgate started", attrs...)
	if authMode == "open" {
		why := "auth.mode = open"
		if cfg.Auth.Mode == "auto" {
			why = "auth.mode = auto and no user, API key or static token exists yet"
		}
		log.WarnContext(ctx, "authentication is off: anyone who can connect to "+addr.String()+" acts as admin; create the first user (tollgate user create, or the setup page) to turn it on",
			"reason", why, "url", url)
	}
}

// openURL is the URL to open for a listen address: an unspecified host
// (0.0.0.0, ::) is reached on loopback.
func openURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// databaseAttrs names the engine and the SQLite path or the PostgreSQL
// host and database; never a user or password.
func databaseAttrs(engine, raw string) []any {
	if engine == "sqlite" || strings.HasPrefix(raw, "sqlite://") {
		path, _, _ := strings.Cut(strings.TrimPrefix(raw, "sqlite://"), "?")
		return []any{"engine", "sqlite", "path", path}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return []any{"engine", engine}
	}
	return []any{"engine", engine, "host", u.Host, "name", strings.TrimPrefix(u.Path, "/")}
}

// modelSummary lists the models as name→provider/upstream_model.
func modelSummary(cfg *config.Config) []string {
	if len(cfg.Providers) == 0 {
		return []string{echo.Model + "→" + echo.Model + " (built in)"}
	}
	out := make([]string, 0, len(cfg.Models))
	for _, m := range cfg.Models {
		up := m.UpstreamModel
		if up == "" {
			up = m.Name
		}
		s := m.Name + "→" + m.Provider + "/" + up
		if len(m.Fallbacks) > 0 {
			s += " (fallbacks " + strings.Join(m.Fallbacks, ", ") + ")"
		}
		out = append(out, s)
	}
	return out
}

// providerSummary lists the providers as name (type base_url), with any
// credential in base_url redacted.
func providerSummary(cfg *config.Config) []string {
	if len(cfg.Providers) == 0 {
		return []string{echo.Model + " (echo)"}
	}
	out := make([]string, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		s := p.Name + " (" + p.Type
		if p.BaseURL != "" {
			s += " " + config.RedactURL(p.BaseURL)
		}
		out = append(out, s+")")
	}
	return out
}

// rateLimitAttrs names the backend and, for Redis, whether it answers now.
func rateLimitAttrs(ctx context.Context, a *app) []any {
	attrs := []any{"backend", a.cfg.RateLimit.Backend}
	if a.redis != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		state := "reachable"
		if err := a.redis.Ping(pctx).Err(); err != nil {
			state = "unreachable (limits fall back to this instance's memory until it answers)"
			a.log.WarnContext(ctx, "redis is unreachable at start-up", "err", err)
		}
		attrs = append(attrs, "redis", state)
	}
	return attrs
}

// configFile is the config file used, or says there is none.
func configFile(cfg *config.Config) string {
	if cfg.File == "" {
		return "none, defaults (and TOLLGATE_* environment)"
	}
	return cfg.File
}

// warnUnknownEnv reports TOLLGATE_* variables that configure nothing (a
// typo such as TOLLGATE_SERVER_ADR would otherwise be ignored silently).
func warnUnknownEnv(log *slog.Logger, cfg *config.Config, environ []string) {
	for _, name := range cfg.UnknownEnv(environ) {
		log.Warn("unknown environment variable: not a configuration key (see docs/configuration.md); ignored", "name", name)
	}
}

// slogRedis routes go-redis's own log lines (pool and connection notices
// it would print to stderr) through slog.
type slogRedis struct{ log *slog.Logger }

func (l slogRedis) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}
