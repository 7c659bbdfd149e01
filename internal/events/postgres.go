package events

import (
	"context"
	"log/slog"
)

// notifyLimit keeps NOTIFY payloads under PostgreSQL's 8000 bytes.
const notifyLimit = 7900

// Notifier sends a PostgreSQL notification; *sqlstore.Store is one (it
// sends through its pool).
type Notifier interface {
	Notify(ctx context.Context, channel, payload string) error
}

// Postgres is the Transport over PostgreSQL LISTEN/NOTIFY: notifications
// go out through the store's pool and come in on one dedicated
// connection per instance, reconnected with backoff (after which the hub
// reads what it missed from the store).
type Postgres struct {
	// DSN is the database URL the listening connection dials.
	DSN string
	// Channel is the notification channel (several deployments on one
	// database use different ones).
	Channel  string
	Notifier Notifier
	Log      *slog.Logger
}

// Send implements Transport.
func (p *Postgres) Send(ctx context.Context, m Message) error {
	return p.Notifier.Notify(ctx, p.Channel, string(encode(m, notifyLimit)))
}

// Run implements Transport.
func (p *Postgres) Run(ctx context.Context, receive func(Message), caughtUp func()) {
	listenPostgres(ctx, p.DSN, p.Channel, orDiscard(p.Log), func(payload string) {
		if m, ok := decode([]byte(payload)); ok {
			receive(m)
		}
	}, caughtUp)
}
