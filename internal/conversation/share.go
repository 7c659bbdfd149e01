package conversation

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
)

// sharePrefix starts every share token.
const sharePrefix = "tgs_"

// Shared is the public view of a shared conversation: its title, the
// owner's display name and the messages of its current branch.
type Shared struct {
	Title            string
	OwnerDisplayName string
	Messages         []gateway.Message
}

// Share creates (or replaces: the previous link stops working) the public
// link of o's user-owned conversation and returns its token, shown once.
// Errors: 404 conversation_not_found.
func (s *Service) Share(ctx context.Context, o gateway.Owner, conversationID string) (gateway.Secret, error) {
	token := sharePrefix + strings.ToLower(rand.Text()) + strings.ToLower(rand.Text())
	if err := s.audited(ctx, func(ctx context.Context) (gateway.AuditEvent, error) {
		return convEvent(gateway.AuditConversationShared, conversationID, map[string]any{"op": "share"}),
			s.store.SetShare(ctx, o, conversationID, HashToken(token))
	}); err != nil {
		return "", storeError("share conversation", err, "conversation_not_found")
	}
	return gateway.Secret(token), nil
}

// Unshare revokes the link. Errors: 404 conversation_not_found (not o's),
// 404 not_found (o's, but not shared).
func (s *Service) Unshare(ctx context.Context, o gateway.Owner, conversationID string) error {
	c, err := s.store.GetConversation(ctx, o, conversationID)
	if err != nil || c.Role != gateway.RoleOwner || c.EndUserID != "" {
		return storeError("unshare conversation", orNotFound(err), "conversation_not_found")
	}
	if err := s.audited(ctx, func(ctx context.Context) (gateway.AuditEvent, error) {
		return convEvent(gateway.AuditConversationShared, c.ID, map[string]any{"op": "unshare"}), s.store.DeleteShare(ctx, o, c.ID)
	}); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return gateway.NotFound("not_found", "Share link not found.")
		}
		return gateway.Internal("unshare conversation", err)
	}
	return nil
}

// SharedConversation returns what a share token shows. Errors: 404
// not_found (unknown, replaced or revoked token).
func (s *Service) SharedConversation(ctx context.Context, token string) (Shared, error) {
	notFound := gateway.NotFound("not_found", "Share link not found.")
	if !strings.HasPrefix(token, sharePrefix) {
		return Shared{}, notFound
	}
	c, msgs, err := s.store.SharedConversation(ctx, HashToken(token))
	if errors.Is(err, gateway.ErrNotFound) {
		return Shared{}, notFound
	}
	if err != nil {
		return Shared{}, gateway.Internal("shared conversation", err)
	}
	out := Shared{Title: c.Title, Messages: currentBranch(msgs)}
	if s.users != nil {
		if u, err := s.users.User(ctx, c.UserID); err == nil {
			out.OwnerDisplayName = u.DisplayName
		}
	}
	return out, nil
}

// currentBranch is the path from the root to the newest message (the line
// a post without parent_id continues), without deleted, pending or failed
// messages.
func currentBranch(msgs []gateway.Message) []gateway.Message {
	if len(msgs) == 0 {
		return []gateway.Message{}
	}
	byID := make(map[string]gateway.Message, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	out := []gateway.Message{}
	for m, ok := msgs[len(msgs)-1], true; ok && len(out) <= len(msgs); m, ok = byID[m.ParentID] {
		if m.DeletedAt == nil && m.Status != gateway.MessagePending && m.Status != gateway.MessageError {
			out = append(out, m)
		}
	}
	slices.Reverse(out)
	return out
}
