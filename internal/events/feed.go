package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
)

// Feed carries short text notifications between the instances sharing a
// database, over the same transports as conversation events: the auth
// caches' change pushes (gateway.Change) travel on one.
type Feed interface {
	// Publish hands payload to every instance, this one included.
	Publish(ctx context.Context, payload string) error
	// Run receives until ctx ends, calling receive for each payload and
	// connected after each (re)connection, when notifications may have
	// been missed.
	Run(ctx context.Context, receive func(string), connected func())
}

// PostgresFeed is a Feed over LISTEN/NOTIFY: published through the
// store's pool, received on a dedicated connection reconnected with
// backoff.
type PostgresFeed struct {
	DSN      string
	Channel  string
	Notifier Notifier
	Log      *slog.Logger
}

// Publish implements Feed.
func (f *PostgresFeed) Publish(ctx context.Context, payload string) error {
	return f.Notifier.Notify(ctx, f.Channel, payload)
}

// Run implements Feed.
func (f *PostgresFeed) Run(ctx context.Context, receive func(string), connected func()) {
	listenPostgres(ctx, f.DSN, f.Channel, orDiscard(f.Log), receive, connected)
}

// RedisFeed is a Feed over Redis pub/sub.
type RedisFeed struct {
	Client  *goredis.Client
	Channel string
	Log     *slog.Logger
}

// Publish implements Feed.
func (f *RedisFeed) Publish(ctx context.Context, payload string) error {
	return f.Client.Publish(ctx, f.Channel, payload).Err()
}

// Run implements Feed.
func (f *RedisFeed) Run(ctx context.Context, receive func(string), connected func()) {
	subscribeRedis(ctx, f.Client, f.Channel, orDiscard(f.Log), receive, connected)
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// listenPostgres LISTENs on channel over its own connection until ctx
// ends, reconnecting with backoff (100 ms doubling to 5 s); connected is
// called after each LISTEN.
func listenPostgres(ctx context.Context, dsn, channel string, log *slog.Logger, receive func(string), connected func()) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, dsn, channel, receive, connected)
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "LISTEN connection lost; reconnecting", "channel", channel, "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func listenOnce(ctx context.Context, dsn, channel string, receive func(string), connected func()) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		receive(n.Payload)
	}
}

// subscribeRedis subscribes to channel until ctx ends; go-redis
// resubscribes after a lost connection, and connected is called after
// each subscription.
func subscribeRedis(ctx context.Context, c *goredis.Client, channel string, log *slog.Logger, receive func(string), connected func()) {
	ps := c.Subscribe(ctx, channel)
	defer ps.Close()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		switch v := msg.(type) {
		case *goredis.Subscription:
			if v.Kind == "subscribe" {
				connected()
			}
		case *goredis.Message:
			receive(v.Payload)
		}
		if err != nil {
			log.WarnContext(ctx, "Redis subscription", "channel", channel, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
