package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/ratelimit"
	"github.com/tollgate/tollgate/internal/sqlstore"
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
			a, err := newApp(cmd.Context(), cfg, log, nil)
			if err != nil {
				return err
			}
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
			st, err := openStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintf(e.stdout, "database %s is migrated\n", config.RedactURL(cfg.DatabaseURL()))
			return nil
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
			a, err := newApp(cmd.Context(), cfg, slog.New(slog.DiscardHandler), nil)
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
	st, err := sqlstore.Open(ctx, cfg.DatabaseURL(), sqlstore.Options{MaxOpenConns: cfg.Database.MaxOpenConns})
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
	api      *httpapi.Server
}

// newApp opens the store and wires the HTTP API. st may be given by tests;
// nil opens the configured database.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, st *sqlstore.Store) (*app, error) {
	if st == nil {
		var err error
		if st, err = openStore(ctx, cfg); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &app{cfg: cfg, log: log, store: st}
	idn, err := newIdentity(ctx, cfg, log, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.identity = idn
	trusted, err := ratelimit.ParseTrustedProxies(cfg.Server.TrustedProxies)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server.trusted_proxies: %w", err)
	}
	// The login limiter of SPEC 2.7 is always in memory and per instance.
	logins := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{
		Limiter:        ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		TrustedProxies: trusted,
	})
	a.api = httpapi.New(httpapi.Options{
		Log:      log,
		Auth:     idn,
		Identity: idn,
		LoginGuard: func(w http.ResponseWriter, r *http.Request) error {
			_, err := logins.CheckLogin(r.Context(), ratelimit.ClientIP(r, trusted), cfg.Auth.LoginRatePerMinute)
			return err
		},
		MaxBodyBytes:  cfg.Server.MaxBodyBytes,
		EndUserHeader: cfg.Auth.EndUserHeader,
		Metrics:       reg,
		Gatherer:      reg,
		Version:       version,
		Ready: func(r *http.Request) error {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			return st.Ready(ctx)
		},
	})
	return a, nil
}

// newIdentity builds and initialises the identity service of cfg.Auth on st.
func newIdentity(ctx context.Context, cfg *config.Config, log *slog.Logger, st *sqlstore.Store) (*auth.Service, error) {
	tokens, err := auth.NewTokens(ctx, auth.TokensOptions{Secret: cfg.Auth.JWTSecret, Keys: st,
		Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience})
	if err != nil {
		return nil, err
	}
	role, err := gateway.ParseRole(cfg.Auth.DefaultRole)
	if err != nil {
		return nil, fmt.Errorf("auth.default_role: %w", err)
	}
	idn := auth.New(auth.Options{
		Users:               st,
		Tokens:              tokens,
		Mode:                cfg.Auth.Mode,
		Loopback:            config.IsLoopback(cfg.Server.Addr),
		TokenTTL:            cfg.Auth.TokenTTL,
		RegistrationEnabled: cfg.Auth.RegistrationEnabled,
		DefaultRole:         role,
		AllowedEmailDomains: cfg.Auth.AllowedEmailDomains,
		CacheSyncInterval:   cfg.Auth.CacheSyncInterval,
		DataDir:             cfg.Server.DataDir,
		Log:                 log,
		// API keys (a later issue) plug in here: Verifiers for X-API-Key and
		// Bearer tg_ keys, and OtherCredentialsExist for auth.mode = auto.
	})
	if err := idn.Init(ctx); err != nil {
		return nil, err
	}
	return idn, nil
}

func (a *app) close(ctx context.Context) {
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
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (server.addr): %w", cfg.Server.Addr, err)
	}
	srv := &http.Server{
		Handler:           a.api.Handler(),
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("tollgate listening", "addr", ln.Addr().String(), "database", a.store.Engine(), "version", version)
	if listening != nil {
		listening <- ln.Addr()
	}
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSync()
	go a.identity.Run(syncCtx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
