package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	tgredis "github.com/tollgate/tollgate/internal/redis"
	"github.com/tollgate/tollgate/internal/sqlstore"
)

// changeChannel is the NOTIFY channel (PostgreSQL) and, after
// redis.key_prefix, the pub/sub channel (Redis) of credential and policy
// changes.
const changeChannel = "tollgate_auth"

// changeFeed returns the feed that pushes gateway.Changes to every
// instance at commit, over the transport the live events use (stream.
// backend: LISTEN/NOTIFY on PostgreSQL, Redis pub/sub when redis.url is
// set), or nil for a single instance (SQLite, stream.backend memory).
// rc is a Redis client to reuse (nil: one is created and returned).
func changeFeed(cfg *config.Config, st *sqlstore.Store, rc *goredis.Client, log *slog.Logger) (events.Feed, *goredis.Client, error) {
	backend := cfg.Stream.Backend
	if backend == "auto" {
		switch {
		case st.Engine() != "postgres":
			backend = "memory"
		case cfg.Redis.URL != "":
			backend = "redis"
		default:
			backend = "postgres"
		}
	}
	switch backend {
	case "postgres":
		return &events.PostgresFeed{DSN: cfg.DatabaseURL(), Channel: changeChannel, Notifier: st, Log: log}, rc, nil
	case "redis":
		if rc == nil {
			c, err := tgredis.NewClient(cfg.Redis.URL.Reveal())
			if err != nil {
				return nil, nil, fmt.Errorf("redis.url: %w", err)
			}
			rc = c
		}
		return &events.RedisFeed{Client: rc, Channel: cfg.Redis.KeyPrefix + changeChannel, Log: log}, rc, nil
	}
	return nil, rc, nil
}

// publishChanges makes st push every committed key, user and policy
// change through feed before the store call returns (so before the HTTP
// answer or the CLI's exit). A failed push is logged: the other
// instances then see the change at their next poll
// (auth.cache_sync_interval).
func publishChanges(st *sqlstore.Store, feed events.Feed, log *slog.Logger) {
	if feed == nil {
		return
	}
	st.SetChangeHook(func(ctx context.Context, c gateway.Change) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := feed.Publish(pctx, c.String()); err != nil {
			log.WarnContext(ctx, "push of a credential change failed; other instances see it at their next poll",
				"change", string(c.Kind), "id", c.ID, "err", err)
		}
	})
}

// changeReceiver applies pushed changes to this instance's caches.
type changeReceiver struct {
	a *app
	// refreshPolicies reloads the rate-limit policies.
	refreshPolicies func(context.Context) error
	log             *slog.Logger
}

// receive applies one pushed change: the key or user is read again, the
// policies reloaded. Payloads that are not changes are ignored.
func (r changeReceiver) receive(ctx context.Context, payload string) {
	c, ok := gateway.ParseChange(payload)
	if !ok {
		return
	}
	var err error
	switch c.Kind {
	case gateway.ChangeKey:
		err = r.a.keys.Refresh(ctx, c.ID)
	case gateway.ChangeUser:
		err = r.a.identity.RefreshUser(ctx, c.ID)
	case gateway.ChangePolicy:
		err = r.refreshPolicies(ctx)
	}
	if err != nil {
		r.log.WarnContext(ctx, "apply a pushed credential change", "change", string(c.Kind), "id", c.ID, "err", err)
	}
}

// connected catches up after a (re)connection of the feed, when pushes
// may have been missed: a full sync, as the poll does.
func (r changeReceiver) connected(ctx context.Context) {
	if err := r.a.identity.Sync(ctx); err != nil {
		r.log.WarnContext(ctx, "auth cache sync after reconnecting the change feed", "err", err)
	}
	if err := r.refreshPolicies(ctx); err != nil {
		r.log.WarnContext(ctx, "refresh rate limit policies after reconnecting the change feed", "err", err)
	}
}
