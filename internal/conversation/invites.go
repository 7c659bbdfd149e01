package conversation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// DefaultInviteTTL is how long an invite lasts without expires_in_seconds.
const DefaultInviteTTL = 7 * 24 * time.Hour

// invitePrefix starts every invite token.
const invitePrefix = "tgi_"

// HashToken is the hex SHA-256 under which an invite or share token is
// stored; the token itself never is.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (s *Service) clock() time.Time { return s.now().UTC() }

// InviteInput is a new invite: the role it grants, its lifetime (0:
// DefaultInviteTTL) and its number of uses (0: unlimited).
type InviteInput struct {
	Role    gateway.ParticipantRole
	TTL     time.Duration
	MaxUses int
}

// CreateInvite stores an invite of o's user-owned conversation and returns
// it with its token, which is shown this once. Errors: 404
// conversation_not_found.
func (s *Service) CreateInvite(ctx context.Context, o gateway.Owner, conversationID string, in InviteInput) (gateway.Invite, gateway.Secret, error) {
	if in.TTL <= 0 {
		in.TTL = DefaultInviteTTL
	}
	token := invitePrefix + strings.ToLower(rand.Text()) + strings.ToLower(rand.Text())
	var inv gateway.Invite
	err := s.audited(ctx, func(ctx context.Context) (gateway.AuditEvent, error) {
		var err error
		inv, err = s.store.CreateInvite(ctx, o, gateway.Invite{ConversationID: conversationID, TokenHash: HashToken(token),
			Role: in.Role, ExpiresAt: s.clock().Add(in.TTL), MaxUses: in.MaxUses})
		return convEvent(gateway.AuditInviteCreated, conversationID, map[string]any{"invite_id": inv.ID, "role": in.Role,
			"expires_at": inv.ExpiresAt.Format(time.RFC3339), "max_uses": in.MaxUses}), err
	})
	if err != nil {
		return inv, "", storeError("create invite", err, "conversation_not_found")
	}
	return inv, gateway.Secret(token), nil
}

// Invites lists the invites of o's conversation (never their tokens).
// Errors: 404 conversation_not_found.
func (s *Service) Invites(ctx context.Context, o gateway.Owner, conversationID string) ([]gateway.Invite, error) {
	l, err := s.store.ListInvites(ctx, o, conversationID)
	if err != nil {
		return nil, storeError("list invites", err, "conversation_not_found")
	}
	return l, nil
}

func inviteNotFound() error { return gateway.NotFound("not_found", "Invite not found.") }

// RevokeInvite revokes an invite of o's conversation. Errors: 404
// not_found.
func (s *Service) RevokeInvite(ctx context.Context, o gateway.Owner, id string) error {
	if _, err := s.store.RevokeInvite(ctx, o, id); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return inviteNotFound()
		}
		return gateway.Internal("revoke invite", err)
	}
	return nil
}

// AcceptInvite makes p a participant of the invite's conversation and
// returns the conversation as p now sees it; participant.added is emitted
// when p joined. Errors: 404 not_found (unknown, expired, used up or
// revoked token: one answer for all).
func (s *Service) AcceptInvite(ctx context.Context, p *gateway.Principal, token string) (gateway.Conversation, error) {
	o := p.Owner()
	if !gateway.ParticipantOf(o) || !strings.HasPrefix(token, invitePrefix) {
		return gateway.Conversation{}, inviteNotFound()
	}
	var inv gateway.Invite
	err := s.audited(ctx, func(ctx context.Context) (gateway.AuditEvent, error) {
		var err error
		inv, err = s.store.AcceptInvite(ctx, HashToken(token), o.UserID, s.clock())
		return convEvent(gateway.AuditInviteAccepted, inv.ConversationID, map[string]any{"invite_id": inv.ID, "role": inv.Role}), err
	})
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return gateway.Conversation{}, inviteNotFound()
		}
		return gateway.Conversation{}, gateway.Internal("accept invite", err)
	}
	c, err := s.store.GetConversation(ctx, o, inv.ConversationID)
	if err != nil {
		return c, gateway.Internal("accept invite: read conversation", err)
	}
	if c.Role != gateway.RoleOwner {
		part := gateway.Participant{ConversationID: c.ID, UserID: o.UserID, Role: c.Role, CreatedAt: s.clock()}
		s.emit(ctx, nil, Event{Type: ParticipantAdded, ConversationID: c.ID, Participant: &part})
	}
	return c, nil
}
