package conversation

import (
	"context"
	"errors"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Users finds the users a conversation is shared with; gateway.UserStore
// is one.
type Users interface {
	User(ctx context.Context, id string) (gateway.User, error)
	UserByEmail(ctx context.Context, email string) (gateway.User, error)
}

// ParticipantInput names a user to add, by id or by email (exactly one),
// with a role.
type ParticipantInput struct {
	UserID string
	Email  string
	Role   gateway.ParticipantRole
}

func userNotFound(param string) error {
	return &gateway.Error{Kind: gateway.KindNotFound, Code: "not_found", Param: param, Message: "User not found."}
}

// AddParticipant shares o's conversation with a user (or changes its
// role) and emits participant.added. Errors: 404 conversation_not_found
// (not o's, or an end user's), 404 not_found (no such user, param
// body.user_id or body.email), 400 invalid_field body.user_id (the owner
// itself).
func (s *Service) AddParticipant(ctx context.Context, o gateway.Owner, conversationID string, in ParticipantInput) (gateway.Participant, error) {
	c, err := s.store.GetConversation(ctx, o, conversationID)
	if err != nil || c.Role != gateway.RoleOwner || c.EndUserID != "" {
		return gateway.Participant{}, storeError("add participant", orNotFound(err), "conversation_not_found")
	}
	uid, param := in.UserID, "body.user_id"
	if in.Email != "" {
		param = "body.email"
	}
	if s.users != nil {
		var u gateway.User
		if in.Email != "" {
			u, err = s.users.UserByEmail(ctx, in.Email)
		} else {
			u, err = s.users.User(ctx, in.UserID)
		}
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			return gateway.Participant{}, userNotFound(param)
		case err != nil:
			return gateway.Participant{}, gateway.Internal("add participant: find user", err)
		case !u.Active:
			return gateway.Participant{}, userNotFound(param)
		}
		uid = u.ID
	} else if in.Email != "" {
		return gateway.Participant{}, userNotFound(param)
	}
	if uid == o.UserID {
		return gateway.Participant{}, gateway.Invalid("invalid_field", param, "the owner of a conversation cannot be a participant")
	}
	var p gateway.Participant
	err = s.audited(ctx, func(ctx context.Context) (gateway.AuditEvent, error) {
		var err error
		p, err = s.store.AddParticipant(ctx, o, c.ID, uid, in.Role)
		return convEvent(gateway.AuditParticipantAdded, c.ID, map[string]any{"user_id": uid, "role": in.Role}), err
	})
	if err != nil {
		return p, storeError("add participant", err, "conversation_not_found")
	}
	s.emit(ctx, nil, Event{Type: ParticipantAdded, ConversationID: c.ID, Participant: &p})
	return p, nil
}

// orNotFound turns a nil error (a conversation found but not manageable
// by the caller) into ErrNotFound, so it answers like an unknown id.
func orNotFound(err error) error {
	if err == nil {
		return gateway.ErrNotFound
	}
	return err
}

// Participants lists the participants of a conversation o can read.
// Errors: 404 conversation_not_found.
func (s *Service) Participants(ctx context.Context, o gateway.Owner, conversationID string) ([]gateway.Participant, error) {
	ps, err := s.store.ListParticipants(ctx, o, conversationID)
	if err != nil {
		return nil, storeError("list participants", err, "conversation_not_found")
	}
	return ps, nil
}

// RemoveParticipant ends a participant's access (the owner removes anyone,
// a participant itself), emits participant.removed (with the role it
// had) and has the live
// streams of the conversation re-check their access, so the removed
// user's stream ends at once. Errors: 404 conversation_not_found (a
// conversation o cannot read), 404 not_found (no such participant, or one
// o may not remove).
func (s *Service) RemoveParticipant(ctx context.Context, o gateway.Owner, conversationID, userID string) error {
	if _, err := s.store.GetConversation(ctx, o, conversationID); err != nil {
		return storeError("remove participant", err, "conversation_not_found")
	}
	var p gateway.Participant
	if err := s.audited(ctx, func(ctx context.Context) (gateway.AuditEvent, error) {
		var err error
		p, err = s.store.RemoveParticipant(ctx, o, conversationID, userID)
		return convEvent(gateway.AuditParticipantRemoved, conversationID, map[string]any{"user_id": userID}), err
	}); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return gateway.NotFound("not_found", "Participant not found.")
		}
		return gateway.Internal("remove participant", err)
	}
	s.emit(ctx, nil, Event{Type: ParticipantRemoved, ConversationID: conversationID, Participant: &p})
	return nil
}
