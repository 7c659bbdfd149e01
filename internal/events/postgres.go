package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
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
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.listen(ctx, receive, caughtUp)
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, "conversation events: LISTEN connection lost; reconnecting", "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (p *Postgres) listen(ctx context.Context, receive func(Message), caughtUp func()) error {
	conn, err := pgx.Connect(ctx, p.DSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.Channel}.Sanitize()); err != nil {
		return err
	}
	caughtUp()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if m, ok := decode([]byte(n.Payload)); ok {
			receive(m)
		}
	}
}
