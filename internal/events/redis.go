package events

import (
	"context"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"
)

// Redis is the Transport over Redis pub/sub (one channel for all
// conversations). go-redis resubscribes after a lost connection; the hub
// then reads what it missed from the store.
type Redis struct {
	Client  *goredis.Client
	Channel string
	Log     *slog.Logger
}

// Send implements Transport.
func (r *Redis) Send(ctx context.Context, m Message) error {
	return r.Client.Publish(ctx, r.Channel, encode(m, 0)).Err()
}

// Run implements Transport.
func (r *Redis) Run(ctx context.Context, receive func(Message), caughtUp func()) {
	subscribeRedis(ctx, r.Client, r.Channel, orDiscard(r.Log), func(payload string) {
		if m, ok := decode([]byte(payload)); ok {
			receive(m)
		}
	}, caughtUp)
}
