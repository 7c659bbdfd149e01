package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/gateway"
)

// unreadColumn is the SELECT expression of o's unread count of the
// conversation c: messages after o's read marker that are not deleted or
// pending, leaving out o's own user messages and the replies to them.
func unreadColumn(o gateway.Owner) (string, []any) {
	return `(SELECT COUNT(*) FROM messages um WHERE um.conversation_id = c.id AND um.deleted_at IS NULL AND um.status <> 'pending'
		AND um.seq > COALESCE((SELECT r.last_read_seq FROM conversation_reads r
			WHERE r.conversation_id = c.id AND r.user_id = ? AND r.end_user_id = ?), 0)
		AND um.author_id <> ?
		AND NOT (um.role = 'assistant' AND EXISTS (SELECT 1 FROM messages pm WHERE pm.id = um.parent_id AND pm.author_id = ?)))`,
		[]any{o.UserID, o.EndUserID, o.UserID, o.UserID}
}

// UnreadBy implements gateway.ConversationStore: one statement over the
// conversation's readers, counted like unreadColumn.
func (s *Store) UnreadBy(ctx context.Context, conversationID, messageID string) ([]gateway.ReaderUnread, error) {
	for _, id := range []string{conversationID, messageID} {
		if !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
			return nil, nil // no row has it
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`WITH readers AS (
			SELECT c.user_id, c.end_user_id FROM conversations c WHERE c.id = ?
			UNION SELECT p.user_id, '' FROM conversation_participants p WHERE p.conversation_id = ?),
		marked AS (
			SELECT r.user_id, r.end_user_id, COALESCE(cr.last_read_seq, 0) AS last_seq
			FROM readers r LEFT JOIN conversation_reads cr
				ON cr.conversation_id = ? AND cr.user_id = r.user_id AND cr.end_user_id = r.end_user_id)
		SELECT k.user_id, k.end_user_id, COALESCE((SELECT lm.id FROM messages lm WHERE lm.seq = k.last_seq), ''),
			(SELECT COUNT(*) FROM messages um WHERE um.conversation_id = m.conversation_id AND um.deleted_at IS NULL
				AND um.status <> 'pending' AND um.seq > k.last_seq AND um.author_id <> k.user_id
				AND NOT (um.role = 'assistant' AND EXISTS (SELECT 1 FROM messages pm WHERE pm.id = um.parent_id AND pm.author_id = k.user_id)))
		FROM marked k, messages m
		WHERE m.id = ? AND m.conversation_id = ? AND m.deleted_at IS NULL AND m.status <> 'pending'
			AND m.seq > k.last_seq AND m.author_id <> k.user_id
			AND NOT (m.role = 'assistant' AND EXISTS (SELECT 1 FROM messages pm WHERE pm.id = m.parent_id AND pm.author_id = k.user_id))
		ORDER BY k.user_id, k.end_user_id`),
		conversationID, conversationID, conversationID, messageID, conversationID)
	if err != nil {
		return nil, s.mapErr("unread by", err)
	}
	defer rows.Close()
	var out []gateway.ReaderUnread
	for rows.Next() {
		var u gateway.ReaderUnread
		if err := rows.Scan(&u.UserID, &u.EndUserID, &u.LastReadMessageID, &u.UnreadCount); err != nil {
			return nil, s.mapErr("unread by", err)
		}
		out = append(out, u)
	}
	return out, s.mapErr("unread by", rows.Err())
}

// MarkRead moves o's read marker forward to messageID.
func (s *Store) MarkRead(ctx context.Context, o gateway.Owner, conversationID, messageID string) (gateway.Conversation, error) {
	var c gateway.Conversation
	if err := checkOwner(o, true, conversationID, messageID); err != nil {
		return c, fmt.Errorf("mark read: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.getConversation(ctx, tx, o, conversationID); err != nil {
			return err
		}
		var seq int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT seq FROM messages WHERE id = ? AND conversation_id = ?`), messageID, conversationID).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return gateway.ErrBadParent
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO conversation_reads (conversation_id, user_id, end_user_id, last_read_seq, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation_id, user_id, end_user_id) DO UPDATE
			SET last_read_seq = CASE WHEN excluded.last_read_seq > conversation_reads.last_read_seq THEN excluded.last_read_seq ELSE conversation_reads.last_read_seq END,
			updated_at = excluded.updated_at`), conversationID, o.UserID, o.EndUserID, seq, now()); err != nil {
			return err
		}
		c, err = s.getConversation(ctx, tx, o, conversationID)
		return err
	})
	if errors.Is(err, gateway.ErrBadParent) {
		return c, fmt.Errorf("mark read: %w", err)
	}
	return c, s.mapErr("mark read", err)
}
