package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Heartbeat writes instance id's lease: heartbeat_at = at (the row is
// created on the first beat). It is one small write, so its result is
// also the readiness check that the database accepts writes.
func (s *Store) Heartbeat(ctx context.Context, id string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`), id, at, at)
	return s.mapErr("heartbeat", err)
}

// RemoveInstance deletes instance id's lease (a clean shutdown, after its
// replies were finished).
func (s *Store) RemoveInstance(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM instances WHERE id = ?`), id)
	return s.mapErr("remove instance", err)
}

// SweepOrphanedMessages marks as incomplete, keeping their checkpointed
// text, the pending assistant messages whose instance is gone: owned by
// an instance other than self whose heartbeat is older than
// leaseExpiredBefore (or that has no lease row), and messages without an
// owner (written before instance leases existed) created before
// legacyBefore. Then it deletes the expired leases. It returns how many
// messages it marked.
func (s *Store) SweepOrphanedMessages(ctx context.Context, self string, leaseExpiredBefore, legacyBefore time.Time) (int64, error) {
	var n int64
	lease, legacy := leaseExpiredBefore.UTC(), legacyBefore.UTC()
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE messages SET status = 'incomplete'
		WHERE status = 'pending' AND instance_id <> ? AND (
			(instance_id = '' AND created_at < ?) OR
			(instance_id <> '' AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = messages.instance_id AND i.heartbeat_at >= ?)))`),
		self, legacy, lease)
	if err != nil {
		return 0, s.mapErr("sweep orphaned messages", err)
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("sweep orphaned messages: %w", err)
	}
	// A lease is deleted only once no pending message names it (a message
	// created after the UPDATE above keeps its lease row until the next
	// sweep).
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM instances WHERE heartbeat_at < ? AND id <> ?
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.status = 'pending' AND m.instance_id = instances.id)`), lease, self); err != nil {
		return n, s.mapErr("delete expired leases", err)
	}
	return n, nil
}

// CheckpointMessage stores the text generated so far of a pending
// assistant message (one UPDATE; nothing else changes). ErrNotFound if
// the message is no longer pending.
func (s *Store) CheckpointMessage(ctx context.Context, o gateway.Owner, id, content string) error {
	if err := checkOwner(o, true, id); err != nil {
		return fmt.Errorf("checkpoint message: %w", err)
	}
	f, args := messageAccess("messages", o, false, false)
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE messages SET content = ? WHERE id = ? AND status = 'pending' AND `+f),
		append([]any{content, id}, args...)...)
	if err != nil {
		return s.mapErr("checkpoint message", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("checkpoint message: %w", gateway.ErrNotFound)
	}
	return nil
}
