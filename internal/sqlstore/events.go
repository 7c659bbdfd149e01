package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.EventStore = (*Store)(nil)

// pruneEvery is how often (in seqs) AppendEvent enforces the
// per-conversation cap: one indexed range delete every 64 events.
const pruneEvery = 64

// AppendEvent bumps the conversation's last_event_seq and inserts the
// event with that seq in one transaction (on PostgreSQL the row lock
// orders concurrent appends, so seqs commit in order). ErrNotFound when the
// conversation is gone.
func (s *Store) AppendEvent(ctx context.Context, conversationID, typ string, data []byte, maxPerConversation int) (gateway.ConversationEvent, error) {
	ev := gateway.ConversationEvent{ConversationID: conversationID, Type: typ, Data: data, CreatedAt: now()}
	if err := checkOwner(gateway.Owner{UserID: "-"}, false, conversationID); err != nil {
		return ev, fmt.Errorf("append event: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.q(`UPDATE conversations SET last_event_seq = last_event_seq + 1 WHERE id = ? RETURNING last_event_seq`),
			conversationID).Scan(&ev.Seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO conversation_events (conversation_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)`),
			conversationID, ev.Seq, typ, data, ev.CreatedAt); err != nil {
			return err
		}
		if maxPerConversation > 0 && ev.Seq%pruneEvery == 0 && ev.Seq > int64(maxPerConversation) {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM conversation_events WHERE conversation_id = ? AND seq <= ?`),
				conversationID, ev.Seq-int64(maxPerConversation)); err != nil {
				return err
			}
		}
		return nil
	})
	return ev, s.mapErr("append event", err)
}

// EventsAfter returns up to limit events with after < seq <= upTo.
func (s *Store) EventsAfter(ctx context.Context, conversationID string, after, upTo int64, limit int) ([]gateway.ConversationEvent, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT seq, type, data, created_at FROM conversation_events
		WHERE conversation_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`), conversationID, after, upTo, limit)
	if err != nil {
		return nil, s.mapErr("events after", err)
	}
	defer rows.Close()
	var out []gateway.ConversationEvent
	for rows.Next() {
		ev := gateway.ConversationEvent{ConversationID: conversationID}
		if err := rows.Scan(&ev.Seq, &ev.Type, &ev.Data, &ev.CreatedAt); err != nil {
			return nil, s.mapErr("events after", err)
		}
		ev.CreatedAt = ev.CreatedAt.UTC()
		out = append(out, ev)
	}
	return out, s.mapErr("events after", rows.Err())
}

// EventBounds returns the first retained and the last assigned seq.
func (s *Store) EventBounds(ctx context.Context, conversationID string) (gateway.EventBounds, error) {
	var b gateway.EventBounds
	var first sql.NullInt64
	err := s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT c.last_event_seq,
		(SELECT MIN(e.seq) FROM conversation_events e WHERE e.conversation_id = c.id)
		FROM conversations c WHERE c.id = ?`), conversationID).Scan(&b.Last, &first)
	if err == sql.ErrNoRows {
		return b, nil
	}
	b.First = first.Int64
	return b, s.mapErr("event bounds", err)
}

// PruneEvents deletes the events created before the given time.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`DELETE FROM conversation_events WHERE created_at < ?`), before.UTC())
	if err != nil {
		return 0, s.mapErr("prune events", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Notify sends a PostgreSQL notification (pg_notify) on channel; the
// PostgreSQL event transport sends through the store's pool. Errors on
// SQLite.
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if s.d.name != "postgres" {
		return fmt.Errorf("notify: not supported on %s", s.d.name)
	}
	_, err := s.conn(ctx).ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload)
	return s.mapErr("notify", err)
}
