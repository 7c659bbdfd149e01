package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/lease"
	"github.com/tollgate/tollgate/internal/oauth"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/ratelimit"
	tgredis "github.com/tollgate/tollgate/internal/redis"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/webui"
)

func newServeCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e, gf)
			if err != nil {
				return err
			}
			log := newLogger(e.stderr, cfg)
			// go-redis logs (pool notices) go through slog, not stderr.
			goredis.SetLogger(slogRedis{log: log})
			warnUnknownEnv(log, cfg, e.environ())
			a, err := newApp(cmd.Context(), cfg, log, appDeps{})
			if err != nil {
				return err
			}
			a.reloadConfig = func() (*config.Config, error) { return loadConfig(e, gf) }
			return runServe(cmd.Context(), a, nil)
		},
	}
	cmd.Flags().StringVar(&gf.addr, "addr", "", "listen address HOST:PORT (server.addr)")
	cmd.Flags().StringVar(&gf.databaseURL, "database-url", "", "database URL (database.url)")
	return cmd
}

func newMigrateCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e, gf)
			if err != nil {
				return err
			}
			st, err := sqlstore.Open(cmd.Context(), cfg.DatabaseURL(), sqlstore.Options{MaxOpenConns: cfg.Database.MaxOpenConns, QueryTimeout: cfg.Database.QueryTimeout})
			if err != nil {
				return err
			}
			defer st.Close()
			applied, err := st.MigrateUp(cmd.Context())
			if err != nil {
				return err
			}
			db := config.RedactURL(cfg.DatabaseURL())
			if len(applied) == 0 {
				fmt.Fprintf(e.stdout, "database %s is migrated: nothing to apply\n", db)
				return nil
			}
			for _, m := range applied {
				fmt.Fprintf(e.stdout, "applied %s\n", m)
			}
			fmt.Fprintf(e.stdout, "database %s is migrated: %d migration(s) applied\n", db, len(applied))
			return nil
		},
	}
	cmd.Flags().StringVar(&gf.databaseURL, "database-url", "", "database URL (database.url)")
	return cmd
}

func newBackupCmd(e env, gf *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the SQLite database to FILE while the server runs (VACUUM INTO)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(e, gf)
			if err != nil {
				return err
			}
			dbURL := cfg.DatabaseURL()
			if !strings.HasPrefix(dbURL, "sqlite://") {
				return errors.New("tollgate backup copies SQLite databases only; back up PostgreSQL with pg_dump (e.g. pg_dump -Fc -f tollgate.dump DATABASE_URL)")
			}
			if err := checkDatabaseExists(dbURL, false); err != nil {
				return err
			}
			if _, err := os.Stat(args[0]); err == nil {
				return fmt.Errorf("%s exists; choose a new file name", args[0])
			}
			st, err := sqlstore.Open(cmd.Context(), dbURL, sqlstore.Options{MaxOpenConns: 1})
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Backup(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "backed up %s to %s\n", strings.TrimPrefix(dbURL, "sqlite://"), args[0])
			return err
		},
	}
	cmd.Flags().StringVar(&gf.databaseURL, "database-url", "", "database URL (database.url)")
	return cmd
}

func newOpenAPICmd(e env, gf *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI document",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e, gf)
			if err != nil {
				return err
			}
			a, err := newApp(cmd.Context(), cfg, slog.New(slog.DiscardHandler), appDeps{})
			if err != nil {
				return err
			}
			defer a.close(cmd.Context())
			doc, err := a.api.OpenAPI()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "%s\n", doc)
			return err
		},
	}
}

// openStore opens the configured database and applies migrations.
func openStore(ctx context.Context, cfg *config.Config) (*sqlstore.Store, error) {
	st, err := sqlstore.Open(ctx, cfg.DatabaseURL(), sqlstore.Options{MaxOpenConns: cfg.Database.MaxOpenConns, QueryTimeout: cfg.Database.QueryTimeout})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// app is the wired gateway: every concrete dependency, built once.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	store    *sqlstore.Store
	identity *auth.Service
	keys     *auth.Keys
	static   *auth.StaticTokens
	hashes   *auth.HashLimiter // bounds concurrent argon2id work
	getenv   func(string) string
	// reloadConfig re-reads the config on SIGHUP (set by the serve
	// command; nil: no reload).
	reloadConfig func() (*config.Config, error)
	api          *httpapi.Server
	// metricsAddr is the bound address of the metrics.addr listener (nil:
	// none), set by runServe before it reports listening.
	metricsAddr net.Addr
	proxy       *proxy.Proxy
	usage       *proxy.UsageWriter
	budgets     *budget.Service
	redis       *goredis.Client
	hub         *events.Broker
	audit       *audit.Service
	auditDone   chan struct{} // closed when the audit service's Run has flushed
	// lease is this instance\'s heartbeat row and sweep of replies left
	// pending by instances that are gone.
	lease *lease.Lease
	// conversations is the conversation service (tests sweep its presence
	// and typing state after moving deps.now).
	conversations *conversation.Service
	cancel        context.CancelFunc // stops background loops
	stopped       chan struct{}
	// draining is set when shutdown begins: /readyz answers 503 from then.
	draining atomic.Bool
}

// appDeps are what newApp takes from its caller instead of building it;
// the zero value builds everything from the config.
type appDeps struct {
	// store is nil to open the configured database.
	store *sqlstore.Store
	// passwords are the argon2id parameters of new password hashes; the
	// zero value is auth.DefaultPasswordParams (tests pass cheaper ones).
	passwords auth.PasswordParams
	// getenv reads the environment variables that hold static tokens' and
	// OAuth providers' client secrets; nil is os.Getenv.
	getenv func(string) string
	// oauthProvider, when set, adjusts each [[auth.oauth]] provider before
	// the OAuth service is built. Tests point GitHub's endpoints and
	// Apple's issuer at in-process fakes (oauthtest) with it; there is no
	// config key for either on purpose (production talks to the real ones).
	oauthProvider func(*oauth.Provider)
	// now is the conversation service's clock (invites, presence, typing);
	// nil is time.Now. Tests move it and call conversations.Sweep.
	now func() time.Time
}

// newApp opens the store (unless deps has one) and wires the HTTP API.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, deps appDeps) (a *app, err error) {
	st := deps.store
	if deps.getenv == nil {
		deps.getenv = os.Getenv
	}
	if st == nil {
		if st, err = openStore(ctx, cfg); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a = &app{cfg: cfg, log: log, store: st, getenv: deps.getenv, cancel: cancel, stopped: make(chan struct{})}
	defer func() {
		if err != nil {
			a.close(ctx)
		}
	}()
	// The lease: a heartbeat row (readiness's write check) and the sweep
	// of replies left pending by instances that are gone. A database that
	// refuses writes does not stop start-up: the instance serves reads,
	// answers /readyz 503 and retries every heartbeat.
	a.lease = newLease(cfg, st, log)
	_ = a.lease.Beat(ctx)

	a.hashes = newHashLimiter(cfg)
	// The audit log (SPEC 8.1): every change below records through it.
	if a.audit, err = audit.New(audit.Options{Store: st, Log: log, Registerer: reg, Retention: cfg.Audit.Retention,
		MaxFailedLoginsPerMinute: cfg.Audit.MaxFailedLoginRecordsPerMinute}); err != nil {
		return a, err
	}
	a.auditDone = make(chan struct{})
	go func() { defer close(a.auditDone); a.audit.Run(bg) }()
	// Rate limits: memory, or Redis with local fallback.
	trusted, err := ratelimit.ParseTrustedProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return a, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	clientIP := func(r *http.Request) string { return ratelimit.ClientIP(r, trusted).String() }
	if a.identity, a.keys, a.static, err = newIdentity(ctx, cfg, log, st, a.hashes, deps, clientIP, a.audit); err != nil {
		return a, err
	}
	// The login limiter of SPEC 2.7 is always in memory and per instance.
	logins := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{
		Limiter:        ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		TrustedProxies: trusted,
	})
	var lim ratelimit.Limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	var sharedLimits *tgredis.Limiter // the rate limiter's Redis buckets, when they are in Redis
	if cfg.RateLimit.Backend == "redis" {
		if a.redis, err = tgredis.NewClient(cfg.Redis.URL.Reveal()); err != nil {
			return a, fmt.Errorf("redis.url: %w", err)
		}
		sharedLimits = tgredis.NewLimiter(a.redis, cfg.Redis.KeyPrefix+"rl:")
		if lim, err = tgredis.NewFallback(tgredis.FallbackOptions{
			Primary: sharedLimits, Local: lim, Registerer: reg, Log: log,
		}); err != nil {
			return a, err
		}
	}
	def := cfg.RateLimit.Default
	resolver := ratelimit.NewResolver(ratelimit.ResolverOptions{Source: st, Log: log, Interval: cfg.Auth.CacheSyncInterval,
		Default: gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: def.RequestsPerMinute, Burst: def.Burst, TokensPerMinute: def.TokensPerMinute}})
	if err := resolver.Refresh(ctx); err != nil {
		return a, fmt.Errorf("load rate limit policies: %w", err)
	}
	rlMetrics, err := ratelimit.NewMetrics(reg)
	if err != nil {
		return a, err
	}
	enforcer := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{Limiter: lim, Policies: resolver, TrustedProxies: trusted, Metrics: rlMetrics})

	// Budgets and max_parallel (SPEC 5.1) admit every model call before
	// its upstream request; reservations of calls that never settle expire
	// after the longest provider timeout.
	// With redis.url set, the counters and max_parallel slots live in
	// Redis (one script call per admission, shared by every instance);
	// settled totals still go to the database, which rebuilds them.
	var counters budget.Counters
	if cfg.Redis.URL != "" {
		if a.redis == nil {
			if a.redis, err = tgredis.NewClient(cfg.Redis.URL.Reveal()); err != nil {
				return a, fmt.Errorf("redis.url: %w", err)
			}
		}
		c := tgredis.NewBudgetCounters(a.redis, cfg.Redis.KeyPrefix+"budget:", st.BudgetCounter)
		if sharedLimits != nil {
			// With the rate limits in Redis too, a request with budgets
			// or max_parallel has both decided by one script call
			// (httpapi defers its rate-limit decision to admission).
			c = c.DecidingLimits(sharedLimits)
		}
		counters = c
	}
	a.budgets = budget.New(budget.Options{Store: st, ReservationTTL: reservationTTL(cfg), Registerer: reg, Log: log, Counters: counters, Audit: a.audit})
	if err := a.budgets.Reload(ctx); err != nil {
		return a, err
	}
	go a.budgets.Run(bg, cfg.Auth.CacheSyncInterval)
	// The proxy and its usage accounting.
	// Usage records are spooled under the data dir (a write-ahead log that
	// survives outages and crashes; replayed on the next start).
	a.usage = proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, Log: log, Registerer: reg,
		// Each batch's transaction settles the budget reservations its
		// records carry; the budgets finish them after the commit.
		OnSettled:     a.budgets.Settled,
		SpoolDir:      filepath.Join(cfg.Server.DataDir, "spool"),
		FlushInterval: cfg.Usage.FlushInterval, BatchSize: cfg.Usage.BatchSize, QueueSize: cfg.Usage.QueueSize})
	models, err := proxyModels(cfg, deps.getenv, log)
	if err != nil {
		return a, err
	}
	// The enforcer charges each completion's tokens to the token budgets of
	// the principal and route that asked for it. Responses API ids are
	// scoped to their creator on every instance (response_ids, written
	// through when an id is first answered).
	if a.proxy, err = proxy.New(proxy.Options{Models: models, Usage: a.usage, Tokens: enforcer, Admitter: a.budgets, Registerer: reg, Log: log,
		ResponseIDs: st}); err != nil {
		return a, err
	}
	go pruneUsage(bg, st, a.proxy, cfg.Usage.RawRetention, log)

	if a.hub, err = newHub(cfg, a, reg, log); err != nil {
		return a, err
	}
	go a.hub.Run(bg)
	a.conversations = conversation.New(conversation.Options{Store: st, Completer: a.proxy, Log: log, Users: st, Now: deps.now, Audit: a.audit,
		Publisher: httpapi.EventPublisher{Hub: a.hub, Log: log}, Signals: a.hub, Instance: a.lease.ID(), Registerer: reg,
		CheckpointInterval: cfg.Stream.CheckpointInterval, FinishRetry: cfg.Stream.FinishRetry})
	go a.lease.Run(bg)
	go a.conversations.RunDeferredFinishes(bg, cfg.Database.HeartbeatInterval)
	go a.conversations.RunSignals(bg)
	if deps.now == nil {
		go a.conversations.RunEphemeral(bg)
	}

	oauthSvc, err := newOAuth(ctx, cfg, deps, st, sessionSignIn{id: a.identity}, log, a.audit)
	if err != nil {
		return a, err
	}

	a.api = httpapi.New(httpapi.Options{
		Log:      log,
		OAuth:    oauthSvc,
		Auth:     a.identity,
		Identity: identity{Service: a.identity, keys: a.keys},
		Keys:     a.keys,
		Sessions: a.identity,
		LoginGuard: func(w http.ResponseWriter, r *http.Request) error {
			_, err := logins.CheckLogin(r.Context(), ratelimit.ClientIP(r, trusted), cfg.Auth.LoginRatePerMinute)
			return err
		},
		ClientIP: clientIP,
		RegisterGuard: func(w http.ResponseWriter, r *http.Request) error {
			_, err := logins.CheckAttempt(r.Context(), "register", ratelimit.ClientIP(r, trusted),
				cfg.Auth.RegisterRatePerMinute, "Too many setup or registration attempts")
			return err
		},
		MaxBodyBytes:       cfg.Server.MaxBodyBytes,
		ReadTimeout:        cfg.Server.ReadTimeout,
		EndUserHeader:      cfg.Auth.EndUserHeader,
		Metrics:            reg,
		Gatherer:           reg,
		MetricsRequireAuth: cfg.Metrics.RequireAuth,
		MetricsSeparate:    cfg.Metrics.Addr != "",
		Version:            version,
		AccessLog:          accessLog(cfg, log),
		ReadyChecks:        a.readyChecks(),
		Draining:           a.draining.Load,
		Proxy:              a.proxy,
		Usage:              st,
		Limiter:            enforcer,
		DeferLimits:        a.budgets.SharesLimits,
		Budgets:            a.budgets,
		RateLimits:         st,
		RateLimitsChanged: func(ctx context.Context) {
			if err := resolver.Refresh(ctx); err != nil {
				log.WarnContext(ctx, "refresh rate limit policies", "err", err)
			}
		},
		Conversations: a.conversations,
		Events:        a.hub,
		Audit:         a.audit,
		AuditLog:      st,
		WebUI:         webui.New(),
	})
	// Credential and policy changes reach every instance at commit.
	feed, rc, err := changeFeed(cfg, st, a.redis, log)
	if err != nil {
		return a, err
	}
	a.redis = rc
	publishChanges(st, feed, log)
	if feed != nil {
		recv := changeReceiver{a: a, refreshPolicies: resolver.Refresh, log: log}
		go feed.Run(bg, func(p string) { recv.receive(bg, p) }, func() { recv.connected(bg) })
	}
	go a.identity.Run(bg)
	go func() {
		defer close(a.stopped)
		resolver.Run(bg)
	}()
	return a, nil
}

// accessLog is the access log of log.access (nil: off): the app's logger
// with log=access on every record, so the lines can be filtered.
func accessLog(cfg *config.Config, log *slog.Logger) *slog.Logger {
	if !cfg.Log.Access {
		return nil
	}
	return log.With("log", "access")
}

// readyChecks are /readyz's checks: the database (reachable, migrated),
// database_write (the last heartbeat write succeeded: the cached result,
// not a write per probe) and Redis when configured. Their states never
// carry a URL or secret.
func (a *app) readyChecks() []httpapi.ReadyCheck {
	checks := []httpapi.ReadyCheck{{Name: "database", Check: func(ctx context.Context) error {
		if err := a.store.Ping(ctx); err != nil {
			return &httpapi.CheckError{State: "unreachable", Err: err}
		}
		if err := a.store.Ready(ctx); err != nil {
			return &httpapi.CheckError{State: "not_migrated", Err: err}
		}
		return nil
	}}, {Name: "database_write", Check: func(context.Context) error {
		if err := a.lease.WriteError(); err != nil {
			return &httpapi.CheckError{State: "failing", Err: err}
		}
		return nil
	}}}
	if a.redis != nil {
		checks = append(checks, httpapi.ReadyCheck{Name: "redis", Check: func(ctx context.Context) error {
			return a.redis.Ping(ctx).Err()
		}})
	}
	return checks
}

// newHub builds the live-event hub of cfg.Stream: in process on SQLite;
// on PostgreSQL shared through Redis pub/sub when redis.url is set, else
// LISTEN/NOTIFY (stream.backend overrides).
func newHub(cfg *config.Config, a *app, reg prometheus.Registerer, log *slog.Logger) (*events.Broker, error) {
	backend := cfg.Stream.Backend
	if backend == "auto" {
		switch {
		case a.store.Engine() != "postgres":
			backend = "memory"
		case cfg.Redis.URL != "":
			backend = "redis"
		default:
			backend = "postgres"
		}
	}
	var tr events.Transport
	switch backend {
	case "postgres":
		tr = &events.Postgres{DSN: cfg.DatabaseURL(), Channel: "tollgate_events", Notifier: a.store, Log: log}
	case "redis":
		if a.redis == nil {
			c, err := tgredis.NewClient(cfg.Redis.URL.Reveal())
			if err != nil {
				return nil, fmt.Errorf("redis.url: %w", err)
			}
			a.redis = c
		}
		tr = &events.Redis{Client: a.redis, Channel: cfg.Redis.KeyPrefix + "events", Log: log}
	}
	return events.New(events.Options{Store: a.store, Transport: tr, Buffer: cfg.Stream.SubscriberBuffer,
		MaxEventsPerConversation: cfg.Stream.MaxEventsPerConversation, Retention: cfg.Stream.Retention,
		Registerer: reg, Log: log})
}

// newIdentity builds and initialises the identity service of cfg.Auth on st.
// Its verifiers are the API keys (cache, exchange) and the static tokens.
func newIdentity(ctx context.Context, cfg *config.Config, log *slog.Logger, st *sqlstore.Store, hashes *auth.HashLimiter, deps appDeps, clientIP func(*http.Request) string, aud gateway.Auditor) (*auth.Service, *auth.Keys, *auth.StaticTokens, error) {
	tokens, err := auth.NewTokens(ctx, auth.TokensOptions{Secret: cfg.Auth.JWTSecret, Keys: st,
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience})
	if err != nil {
		return nil, nil, nil, err
	}
	role, err := gateway.ParseRole(cfg.Auth.DefaultRole)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("auth.default_role: %w", err)
	}
	toks, err := staticTokens(cfg, deps.getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	static, err := auth.NewStaticTokens(toks)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("auth.static_tokens: %w", err)
	}
	// The user cache is shared: keys read their owners from the cache the
	// identity service keeps current.
	fresh := auth.NewFreshness(cfg.Auth.CacheMaxStaleness, log)
	users := auth.NewUserCache(st, fresh, cfg.Auth.KeyCacheSize)
	keys := auth.NewKeys(auth.KeysOptions{Store: st, Users: users, Tokens: tokens, ExchangeTTL: cfg.Auth.ExchangeTokenTTL, Static: static,
		CacheSize: cfg.Auth.KeyCacheSize, Freshness: fresh, Audit: aud})
	idn := auth.New(auth.Options{
		Hashes:              hashes,
		Password:            deps.passwords,
		Users:               st,
		Cache:               users,
		Tokens:              tokens,
		Mode:                cfg.Auth.Mode,
		Loopback:            config.IsLoopback(cfg.Server.Addr),
		TokenTTL:            cfg.Auth.TokenTTL,
		RegistrationEnabled: cfg.Auth.RegistrationEnabled,
		DefaultRole:         role,
		AllowedEmailDomains: cfg.Auth.AllowedEmailDomains,
		CacheSyncInterval:   cfg.Auth.CacheSyncInterval,
		Freshness:           fresh,
		DataDir:             cfg.Server.DataDir,
		Log:                 log,
		Verifiers:           []auth.Verifier{keys, static},
		Exchange:            keys,
		Sessions:            st,
		SessionIdle:         cfg.Auth.SessionIdle,
		SessionAbsolute:     cfg.Auth.SessionAbsolute,
		MaxSessionsPerUser:  cfg.Auth.MaxSessionsPerUser,
		PublicURL:           cfg.Server.PublicURL,
		ClientIP:            clientIP,
		Audit:               aud,
		OtherCredentialsExist: func(ctx context.Context) (bool, error) {
			if static.Len() > 0 {
				return true, nil
			}
			return st.AnyAPIKeys(ctx)
		},
	})
	if err := idn.Init(ctx); err != nil {
		return nil, nil, nil, err
	}
	return idn, keys, static, nil
}

// newHashLimiter bounds concurrent argon2id work per
// auth.password_hash_concurrency (0: derived) and auth.password_hash_wait.
func newHashLimiter(cfg *config.Config) *auth.HashLimiter {
	n := cfg.Auth.PasswordHashConcurrency
	if n == 0 {
		n = auth.DefaultHashConcurrency(auth.DefaultPasswordParams())
	}
	return auth.NewHashLimiter(n, cfg.Auth.PasswordHashWait)
}

// close stops background work, drains the usage writer and closes the
// database last.
func (a *app) close(ctx context.Context) {
	a.cancel()
	if a.hub != nil {
		a.hub.Close()
	}
	if a.api != nil {
		<-a.stopped
	}
	if a.keys != nil {
		if err := a.keys.Flush(context.WithoutCancel(ctx)); err != nil {
			a.log.WarnContext(ctx, "flush api key last use", "err", err)
		}
	}
	if a.proxy != nil {
		a.proxy.Close()
	}
	if a.usage != nil {
		// Whatever is not written by then stays in the spool for the next
		// start.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := a.usage.Close(dctx); err != nil {
			a.log.ErrorContext(ctx, "drain usage writer: the rest stays in the spool", "err", err)
		}
		cancel()
	}
	if a.conversations != nil {
		if n := a.conversations.FinishDeferred(context.WithoutCancel(ctx)); n > 0 {
			a.log.ErrorContext(ctx, "replies whose final write failed are left with their checkpointed text", "count", n)
		}
	}
	if a.lease != nil && a.api != nil {
		// Every reply of this instance is finished: no sweep needs to
		// wait for the lease to expire.
		if err := a.lease.Release(context.WithoutCancel(ctx)); err != nil {
			a.log.WarnContext(ctx, "remove instance lease", "err", err)
		}
	}
	if a.auditDone != nil {
		<-a.auditDone
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if err := a.store.Close(); err != nil {
		a.log.ErrorContext(ctx, "close database", "err", err)
	}
}

// runServe serves a until ctx is cancelled, then shuts down gracefully:
// in-flight requests finish (up to server.shutdown_timeout), background
// writers drain, and it returns nil. If listening is non-nil it receives
// the bound address once the server accepts connections.
func runServe(ctx context.Context, a *app, listening chan<- net.Addr) error {
	cfg, log := a.cfg, a.log
	defer a.close(context.WithoutCancel(ctx))
	if err := a.identity.PrepareSetup(ctx); err != nil {
		return err
	}
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
			IdleTimeout:       cfg.Server.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	// metrics.addr: /metrics on a listener of its own (plain HTTP, for a
	// private network), opened first so a bad address stops start-up.
	var msrv *http.Server
	var mln net.Listener
	if addr := cfg.Metrics.Addr; addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s (metrics.addr): %w", addr, err)
		}
		mln, msrv = a.api.Listener(l, 0), newServer(a.api.MetricsHandler())
		a.metricsAddr = l.Addr()
		defer mln.Close()
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (server.addr): %w", cfg.Server.Addr, err)
	}
	// Beyond server.max_connections open connections Accept waits: new
	// connections queue in the kernel until one closes (timeouts bound how
	// long that is). The listener also turns net/http's own plain-text
	// answers (400, 431, 505, ...) into the SPEC envelope.
	ln = a.api.Listener(ln, cfg.Server.MaxConnections)
	srv := newServer(a.api.Handler())
	// Every request's context descends from hardStop, which the shutdown
	// cancels with gateway.ErrShuttingDown once its deadline has passed.
	hardStop, stopAll := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopAll(nil)
	srv.BaseContext = func(net.Listener) context.Context { return hardStop }
	if a.reloadConfig != nil {
		stop := a.reloadOnSIGHUP(ctx)
		defer stop()
	}
	// Live events from other instances must reach this one before it
	// takes subscribers (SPEC 7.1): wait for the hub's LISTEN/SUBSCRIBE,
	// bounded; the hub catches up by itself if it comes later.
	if a.hub != nil {
		select {
		case <-a.hub.Listening():
		case <-time.After(hubListenWait):
			log.WarnContext(ctx, "live events: not yet receiving from other instances; serving anyway", "waited", hubListenWait.String())
		case <-ctx.Done():
		}
	}
	a.logStartup(ctx, ln.Addr())
	if listening != nil {
		listening <- ln.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	merrc := make(chan error, 1)
	if msrv != nil {
		log.Info("metrics listening", "addr", mln.Addr().String())
		go func() { merrc <- msrv.Serve(mln) }()
		defer func() { _ = msrv.Close() }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-merrc:
		_ = srv.Close()
		return fmt.Errorf("serve metrics (metrics.addr): %w", err)
	case <-ctx.Done():
	}
	return a.shutdown(context.WithoutCancel(ctx), srv, msrv, stopAll, errc)
}

// shutdownGrace is how long requests cut by the shutdown deadline get to
// write their last frame, store what they have and record their usage.
const shutdownGrace = 5 * time.Second

// shutdown stops srv as SPEC 8 says: /readyz answers 503 at once; after
// server.shutdown_delay the listener closes and in-flight requests may
// finish until server.shutdown_timeout; then every request still running
// is cut with gateway.ErrShuttingDown as its context's cause (streams end
// with a server_shutting_down frame, partial replies are stored as
// incomplete, usage is recorded) and gets shutdownGrace to return. The
// deferred a.close drains the usage writer. It returns nil: a shutdown
// that had to cut requests is still a clean exit.
func (a *app) shutdown(ctx context.Context, srv, msrv *http.Server, stopAll context.CancelCauseFunc, errc <-chan error) error {
	cfg, log := a.cfg, a.log
	a.draining.Store(true)
	log.InfoContext(ctx, "shutting down", "delay", cfg.Server.ShutdownDelay.String(), "timeout", cfg.Server.ShutdownTimeout.String())
	if d := cfg.Server.ShutdownDelay; d > 0 {
		time.Sleep(d)
	}
	// Live event streams end now (an error frame server_shutting_down):
	// their clients resume on another instance with Last-Event-ID.
	a.hub.Close()
	sctx, cancel := context.WithTimeout(ctx, cfg.Server.ShutdownTimeout)
	defer cancel()
	if msrv != nil {
		_ = msrv.Shutdown(sctx) // a scrape is short; Close (deferred) ends a stuck one
	}
	cut := false
	if err := srv.Shutdown(sctx); err != nil {
		cut = true
		log.WarnContext(ctx, "shutdown deadline passed: cutting the requests still running", "timeout", cfg.Server.ShutdownTimeout.String())
		stopAll(gateway.ErrShuttingDown)
		gctx, gcancel := context.WithTimeout(ctx, shutdownGrace)
		err = srv.Shutdown(gctx)
		gcancel()
		if err != nil {
			log.ErrorContext(ctx, "requests did not end after being cut; closing their connections", "grace", shutdownGrace.String())
			_ = srv.Close()
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.InfoContext(ctx, "stopped", "cut_requests", cut)
	return nil
}

// identity is the identity service as the HTTP API uses it: deleting a
// user also revokes their keys, which the service gets here.
type identity struct {
	*auth.Service
	keys *auth.Keys
}

// DeleteUser soft-deletes user id with its keys (auth.Service.SoftDelete).
func (i identity) DeleteUser(ctx context.Context, id string) (gateway.User, int, error) {
	return i.SoftDelete(ctx, id, i.keys)
}

// reservationTTL is how long a budget reservation of a call that never
// settles holds: the longest provider timeout plus a minute (10 minutes
// when no provider sets one).
func reservationTTL(cfg *config.Config) time.Duration {
	ttl := 10 * time.Minute
	var longest time.Duration
	for _, p := range cfg.Providers {
		longest = max(longest, p.Timeout)
	}
	if longest > 0 {
		ttl = longest + time.Minute
	}
	return ttl
}

// hubListenWait bounds how long start-up waits for the live-event hub to
// receive from other instances.
const hubListenWait = 10 * time.Second

// pruneUsage deletes raw usage records older than retention at start and
// then hourly until ctx ends (usage.raw_retention; the daily rollups stay),
// the hourly rollups older than sqlstore.UsageHourlyRetention, and the
// Responses API ids older than the 30 days they are kept.
func pruneUsage(ctx context.Context, st *sqlstore.Store, px *proxy.Proxy, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.PruneUsage(ctx, time.Now().Add(-retention)); err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "prune usage records", "err", err)
			}
		} else if n > 0 {
			log.InfoContext(ctx, "pruned usage records", "records", n, "retention", retention.String())
		}
		if _, err := st.PruneUsageHourly(ctx, time.Now().Add(-sqlstore.UsageHourlyRetention)); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "prune hourly usage", "err", err)
		}
		if n, err := px.PruneResponseIDs(ctx); err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "prune response ids", "err", err)
			}
		} else if n > 0 {
			log.InfoContext(ctx, "pruned response ids", "ids", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newLease builds this instance's lease on st. SQLite is owned by one
// process, so every other instance's replies are left over; PostgreSQL
// instances wait for a lease to expire, and replies written before leases
// existed for an hour.
func newLease(cfg *config.Config, st *sqlstore.Store, log *slog.Logger) *lease.Lease {
	return lease.New(lease.Options{Store: st, Interval: cfg.Database.HeartbeatInterval, Timeout: cfg.Database.LeaseTimeout,
		SingleProcess: st.Engine() == "sqlite", LegacyAge: time.Hour, Log: log})
}
