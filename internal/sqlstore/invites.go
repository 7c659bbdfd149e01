package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

const inviteColumns = `id, conversation_id, token_hash, role, expires_at, max_uses, uses, revoked_at, created_at`

func scanInvite(sc scanner) (gateway.Invite, error) {
	var inv gateway.Invite
	var role string
	var revoked sql.NullTime
	err := sc.Scan(&inv.ID, &inv.ConversationID, &inv.TokenHash, &role, &inv.ExpiresAt, &inv.MaxUses, &inv.Uses, &revoked, &inv.CreatedAt)
	inv.Role, inv.ExpiresAt, inv.CreatedAt = gateway.ParticipantRole(role), inv.ExpiresAt.UTC(), inv.CreatedAt.UTC()
	if revoked.Valid {
		t := revoked.Time.UTC()
		inv.RevokedAt = &t
	}
	return inv, err
}

// ownedUserConversation is the condition that the conversation id in
// column col is o's and not an end user's.
func ownedUserConversation(col string, o gateway.Owner) (string, []any) {
	f, args := ownerFilter("c", o)
	return `EXISTS (SELECT 1 FROM conversations c WHERE c.id = ` + col + ` AND c.end_user_id = '' AND ` + f + `)`, args
}

// CreateInvite stores an invite of o's user-owned conversation.
func (s *Store) CreateInvite(ctx context.Context, o gateway.Owner, inv gateway.Invite) (gateway.Invite, error) {
	if err := checkOwner(o, true, inv.ConversationID); err != nil {
		return inv, fmt.Errorf("create invite: %w", err)
	}
	if !inv.Role.Valid() || inv.TokenHash == "" {
		return inv, fmt.Errorf("create invite: invalid invite")
	}
	inv.ID, inv.CreatedAt, inv.ExpiresAt = newID("inv_"), now(), inv.ExpiresAt.UTC()
	f, args := ownedUserConversation("?", o)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO conversation_invites (id, conversation_id, token_hash, role, expires_at, max_uses, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE `+f),
		append([]any{inv.ID, inv.ConversationID, inv.TokenHash, string(inv.Role), inv.ExpiresAt, inv.MaxUses, inv.CreatedAt, inv.ConversationID}, args...)...)
	if err != nil {
		return inv, s.mapErr("create invite", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return inv, fmt.Errorf("create invite: %w", gateway.ErrNotFound)
	}
	return inv, nil
}

// ListInvites returns the invites of o's conversation, newest first.
func (s *Store) ListInvites(ctx context.Context, o gateway.Owner, conversationID string) ([]gateway.Invite, error) {
	if err := checkOwner(o, false, conversationID); err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	c, err := s.getConversation(ctx, s.conn(ctx), o, conversationID)
	if err != nil {
		return nil, err
	}
	if c.Role != gateway.RoleOwner || c.EndUserID != "" {
		return nil, fmt.Errorf("list invites: %w", gateway.ErrNotFound)
	}
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT `+inviteColumns+` FROM conversation_invites
		WHERE conversation_id = ? ORDER BY created_at DESC, id DESC`), c.ID)
	if err != nil {
		return nil, s.mapErr("list invites", err)
	}
	defer rows.Close()
	out := []gateway.Invite{}
	for rows.Next() {
		inv, err := scanInvite(rows)
		if err != nil {
			return nil, s.mapErr("list invites", err)
		}
		out = append(out, inv)
	}
	return out, s.mapErr("list invites", rows.Err())
}

// RevokeInvite sets revoked_at unless set.
func (s *Store) RevokeInvite(ctx context.Context, o gateway.Owner, id string) (gateway.Invite, error) {
	if err := checkOwner(o, true, id); err != nil {
		return gateway.Invite{}, fmt.Errorf("revoke invite: %w", err)
	}
	f, args := ownedUserConversation("conversation_invites.conversation_id", o)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`UPDATE conversation_invites SET revoked_at = COALESCE(revoked_at, ?)
		WHERE id = ? AND `+f+` RETURNING `+inviteColumns), append([]any{now(), id}, args...)...)
	inv, err := scanInvite(row)
	return inv, s.mapErr("revoke invite", err)
}

// AcceptInvite uses a valid invite and adds the participant in one
// transaction; the guarded UPDATE makes concurrent accepts of the last use
// race safely (one wins).
func (s *Store) AcceptInvite(ctx context.Context, tokenHash, userID string, at time.Time) (gateway.Invite, error) {
	if err := checkOwner(gateway.Owner{UserID: userID}, true, tokenHash); err != nil {
		return gateway.Invite{}, fmt.Errorf("accept invite: %w", err)
	}
	at = at.UTC()
	var inv gateway.Invite
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, s.q(`SELECT c.user_id FROM conversation_invites i JOIN conversations c ON c.id = i.conversation_id
			WHERE i.token_hash = ? AND i.revoked_at IS NULL AND i.expires_at > ? AND (i.max_uses = 0 OR i.uses < i.max_uses)`),
			tokenHash, at).Scan(&owner)
		if err != nil {
			return err
		}
		if owner == userID {
			inv, err = scanInvite(tx.QueryRowContext(ctx, s.q(`SELECT `+inviteColumns+` FROM conversation_invites WHERE token_hash = ?`), tokenHash))
			return err
		}
		inv, err = scanInvite(tx.QueryRowContext(ctx, s.q(`UPDATE conversation_invites SET uses = uses + 1
			WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ? AND (max_uses = 0 OR uses < max_uses)
			RETURNING `+inviteColumns), tokenHash, at))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO conversation_participants (conversation_id, user_id, role, created_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (conversation_id, user_id) DO NOTHING`), inv.ConversationID, userID, string(inv.Role), now())
		return err
	})
	return inv, s.mapErr("accept invite", err)
}
