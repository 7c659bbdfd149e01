package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tollgate/tollgate/internal/gateway"
)

// participantID is the user id o participates as, or "" (no user has it)
// for end users and tenant-wide views, which never participate.
func participantID(o gateway.Owner) string {
	if gateway.ParticipantOf(o) {
		return o.UserID
	}
	return ""
}

// readableConversations is the FROM clause and condition of the
// conversations o can read: its own, and the user-owned ones it
// participates in. pr is o's participant row (NULL for its own); the first
// argument belongs to the FROM clause, the rest to the condition.
func readableConversations(o gateway.Owner) (from, cond string, args []any) {
	f, fargs := ownerFilter("c", o)
	from = `conversations c LEFT JOIN conversation_participants pr ON pr.conversation_id = c.id AND pr.user_id = ?`
	cond = `((` + f + `) OR (c.end_user_id = '' AND pr.role IS NOT NULL))`
	return from, cond, append([]any{participantID(o)}, fargs...)
}

// messageAccess is the condition restricting messages (alias or table name
// a) to those o may read or, with write, change. The owner reaches every
// message of its conversations; a participant those of the conversations
// it participates in, and to write, as a writer; with own, only the
// messages it posted.
func messageAccess(a string, o gateway.Owner, write, own bool) (string, []any) {
	f, args := ownerFilter(a, o)
	if !gateway.ParticipantOf(o) {
		return f, args
	}
	cond := `(` + a + `.end_user_id = ''`
	if own {
		cond += ` AND ` + a + `.author_id = ?`
		args = append(args, o.UserID)
	}
	cond += ` AND EXISTS (SELECT 1 FROM conversation_participants p WHERE p.conversation_id = ` + a + `.conversation_id AND p.user_id = ?`
	args = append(args, o.UserID)
	if write {
		cond += ` AND p.role = 'writer'`
	}
	return `((` + f + `) OR ` + cond + `)))`, args
}

func scanParticipant(sc scanner) (gateway.Participant, error) {
	var p gateway.Participant
	var role string
	err := sc.Scan(&p.ConversationID, &p.UserID, &role, &p.CreatedAt)
	p.Role, p.CreatedAt = gateway.ParticipantRole(role), p.CreatedAt.UTC()
	return p, err
}

// AddParticipant adds (or changes the role of) a participant of o's
// user-owned conversation in one statement.
func (s *Store) AddParticipant(ctx context.Context, o gateway.Owner, conversationID, userID string, role gateway.ParticipantRole) (gateway.Participant, error) {
	if err := checkOwner(o, true, conversationID, userID); err != nil {
		return gateway.Participant{}, fmt.Errorf("add participant: %w", err)
	}
	if !role.Valid() {
		return gateway.Participant{}, fmt.Errorf("add participant: invalid role %q", role)
	}
	f, args := ownerFilter("c", o)
	row := s.conn(ctx).QueryRowContext(ctx, s.q(`INSERT INTO conversation_participants (conversation_id, user_id, role, created_at)
		SELECT c.id, ?, ?, ? FROM conversations c WHERE c.id = ? AND c.end_user_id = '' AND `+f+`
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = excluded.role
		RETURNING conversation_id, user_id, role, created_at`),
		append([]any{userID, string(role), now(), conversationID}, args...)...)
	p, err := scanParticipant(row)
	return p, s.mapErr("add participant", err)
}

// ListParticipants returns the participants of a user-owned conversation o
// can read, oldest first.
func (s *Store) ListParticipants(ctx context.Context, o gateway.Owner, conversationID string) ([]gateway.Participant, error) {
	if err := checkOwner(o, false, conversationID); err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	c, err := s.getConversation(ctx, s.conn(ctx), o, conversationID)
	if err != nil {
		return nil, err
	}
	if c.EndUserID != "" {
		return nil, fmt.Errorf("list participants: %w", gateway.ErrNotFound)
	}
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT conversation_id, user_id, role, created_at FROM conversation_participants
		WHERE conversation_id = ? ORDER BY created_at, user_id`), c.ID)
	if err != nil {
		return nil, s.mapErr("list participants", err)
	}
	defer rows.Close()
	out := []gateway.Participant{}
	for rows.Next() {
		p, err := scanParticipant(rows)
		if err != nil {
			return nil, s.mapErr("list participants", err)
		}
		out = append(out, p)
	}
	return out, s.mapErr("list participants", rows.Err())
}

// RemoveParticipant deletes the participant row when o owns the
// conversation or is the participant, and returns the removed row.
func (s *Store) RemoveParticipant(ctx context.Context, o gateway.Owner, conversationID, userID string) (gateway.Participant, error) {
	if err := checkOwner(o, true, conversationID, userID); err != nil {
		return gateway.Participant{}, fmt.Errorf("remove participant: %w", err)
	}
	f, args := ownerFilter("c", o)
	p, err := scanParticipant(s.conn(ctx).QueryRowContext(ctx, s.q(`DELETE FROM conversation_participants WHERE conversation_id = ? AND user_id = ?
		AND (user_id = ? OR EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_participants.conversation_id AND c.end_user_id = '' AND `+f+`))
		RETURNING conversation_id, user_id, role, created_at`), append([]any{conversationID, userID, participantID(o)}, args...)...))
	if err == sql.ErrNoRows {
		return gateway.Participant{}, fmt.Errorf("remove participant: %w", gateway.ErrNotFound)
	}
	return p, s.mapErr("remove participant", err)
}

// SharedConversationIDs returns the user-owned conversations with
// participants that userID owns or participates in.
func (s *Store) SharedConversationIDs(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(`SELECT DISTINCT p.conversation_id FROM conversation_participants p
		JOIN conversations c ON c.id = p.conversation_id
		WHERE c.end_user_id = '' AND (c.user_id = ? OR p.user_id = ?) ORDER BY p.conversation_id`), userID, userID)
	if err != nil {
		return nil, s.mapErr("shared conversations", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.mapErr("shared conversations", err)
		}
		out = append(out, id)
	}
	return out, s.mapErr("shared conversations", rows.Err())
}
