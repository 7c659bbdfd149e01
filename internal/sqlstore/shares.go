package sqlstore

import (
	"context"
	"fmt"

	"github.com/tollgate/tollgate/internal/gateway"
)

// SetShare upserts the share link of o's user-owned conversation.
func (s *Store) SetShare(ctx context.Context, o gateway.Owner, conversationID, tokenHash string) error {
	if err := checkOwner(o, true, conversationID); err != nil {
		return fmt.Errorf("set share: %w", err)
	}
	f, args := ownedUserConversation("?", o)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO conversation_shares (conversation_id, token_hash, created_at)
		SELECT ?, ?, ? WHERE `+f+`
		ON CONFLICT (conversation_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at`),
		append([]any{conversationID, tokenHash, now(), conversationID}, args...)...)
	if err != nil {
		return s.mapErr("set share", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("set share: %w", gateway.ErrNotFound)
	}
	return nil
}

// DeleteShare removes the share link of o's conversation.
func (s *Store) DeleteShare(ctx context.Context, o gateway.Owner, conversationID string) error {
	if err := checkOwner(o, true, conversationID); err != nil {
		return fmt.Errorf("delete share: %w", err)
	}
	f, args := ownedUserConversation("conversation_shares.conversation_id", o)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`DELETE FROM conversation_shares WHERE conversation_id = ? AND `+f),
		append([]any{conversationID}, args...)...)
	if err != nil {
		return s.mapErr("delete share", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("delete share: %w", gateway.ErrNotFound)
	}
	return nil
}

// SharedConversation reads the conversation of a share token and its
// messages.
func (s *Store) SharedConversation(ctx context.Context, tokenHash string) (gateway.Conversation, []gateway.Message, error) {
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+conversationColumns+`, 'owner', 0 FROM conversation_shares sh
		JOIN conversations c ON c.id = sh.conversation_id WHERE sh.token_hash = ?`), tokenHash)
	c, err := scanConversation(row)
	if err != nil {
		return c, nil, s.mapErr("shared conversation", err)
	}
	msgs, err := s.listMessages(ctx, s.conn(ctx), gateway.Owner{UserID: c.UserID}, c.ID)
	return c, msgs, err
}
