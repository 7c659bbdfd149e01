package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tollgate/tollgate/internal/auth"
	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
)

// staticTokens resolves auth.static_tokens: each secret comes from the
// environment variable its token_env names (never the file); an unset or
// empty one is an error naming the key.
func staticTokens(cfg *config.Config, getenv func(string) string) ([]auth.StaticToken, error) {
	out := make([]auth.StaticToken, 0, len(cfg.Auth.StaticTokens))
	for i, st := range cfg.Auth.StaticTokens {
		secret := getenv(st.TokenEnv)
		if secret == "" {
			return nil, fmt.Errorf("auth.static_tokens[%d].token_env: environment variable %s is not set", i, st.TokenEnv)
		}
		role, err := gateway.ParseRole(st.Role)
		if err != nil {
			return nil, fmt.Errorf("auth.static_tokens[%d].role: %w", i, err)
		}
		out = append(out, auth.StaticToken{Name: st.Name, Secret: gateway.Secret(secret), Role: role, EndUserMode: st.EndUserMode})
	}
	return out, nil
}

// reloadStaticTokens re-reads the config and swaps the static tokens in
// place (requests in flight and open connections are untouched). On any
// error the previous tokens stay.
func (a *app) reloadStaticTokens(ctx context.Context) error {
	cfg, err := a.reloadConfig()
	if err != nil {
		return err
	}
	toks, err := staticTokens(cfg, a.getenv)
	if err != nil {
		return err
	}
	if err := a.static.Load(toks); err != nil {
		return fmt.Errorf("auth.static_tokens: %w", err)
	}
	if len(toks) > 0 {
		a.identity.MarkOtherCredentials()
	}
	names := make([]string, len(toks))
	for i, t := range toks {
		names[i] = t.Name
	}
	a.audit.Record(ctx, gateway.AuditEvent{Action: gateway.AuditStaticTokensReloaded, Details: map[string]any{"count": len(toks), "names": names}})
	a.log.InfoContext(ctx, "static tokens reloaded", "count", len(toks))
	return nil
}

// reloadOnSIGHUP reloads the static tokens on every SIGHUP until the
// returned stop is called (the handler is installed before it returns, so
// a SIGHUP never falls through to the default action, termination).
func (a *app) reloadOnSIGHUP(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := a.reloadStaticTokens(ctx); err != nil {
					a.log.ErrorContext(ctx, "reload on SIGHUP failed; keeping the previous static tokens", "err", err)
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}
