package events

import (
	"context"
	"log/slog"
	"time"

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
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ps := r.Client.Subscribe(ctx, r.Channel)
	defer ps.Close()
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		switch v := msg.(type) {
		case *goredis.Subscription:
			if v.Kind == "subscribe" {
				caughtUp()
			}
		case *goredis.Message:
			if m, ok := decode([]byte(v.Payload)); ok {
				receive(m)
			}
		}
		if err != nil {
			log.WarnContext(ctx, "conversation events: Redis subscription", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}
