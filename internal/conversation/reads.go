package conversation

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Unread is the data of an unread.update event: one reader's marker and
// count in one conversation.
type Unread struct {
	ConversationID    string
	UserID, EndUserID string
	LastReadMessageID string
	UnreadCount       int64
}

// MarkRead moves o's read marker forward to messageID and emits
// unread.update, which only o's own live streams show. Errors: 404
// conversation_not_found, 404 message_not_found (param body.message_id).
func (s *Service) MarkRead(ctx context.Context, o gateway.Owner, conversationID, messageID string) (Unread, error) {
	c, err := s.store.MarkRead(ctx, o, conversationID, messageID)
	switch {
	case errors.Is(err, gateway.ErrBadParent):
		return Unread{}, &gateway.Error{Kind: gateway.KindNotFound, Code: "message_not_found", Param: "body.message_id",
			Message: "message_id is not a message of this conversation."}
	case err != nil:
		return Unread{}, storeError("mark read", err, "conversation_not_found")
	}
	u := Unread{ConversationID: c.ID, UserID: o.UserID, EndUserID: o.EndUserID, LastReadMessageID: messageID, UnreadCount: c.UnreadCount}
	s.emit(ctx, nil, Event{Type: UnreadUpdate, ConversationID: c.ID, Unread: &u})
	return u, nil
}

// Thread is a root message with the number of its (not deleted)
// descendants and the time of the newest message in it.
type Thread struct {
	Root           gateway.Message
	ReplyCount     int
	LastActivityAt time.Time
}

// Threads lists the roots of a conversation's message tree, newest
// activity first. Errors: 404 conversation_not_found.
func (s *Service) Threads(ctx context.Context, o gateway.Owner, conversationID string) ([]Thread, error) {
	msgs, err := s.Messages(ctx, o, conversationID)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]gateway.Message, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	index := map[string]int{}
	var out []Thread
	for _, m := range msgs {
		if m.ParentID == "" || byID[m.ParentID].ID == "" {
			index[m.ID] = len(out)
			out = append(out, Thread{Root: m, LastActivityAt: m.CreatedAt})
		}
	}
	for _, m := range msgs {
		root := m
		for steps := 0; root.ParentID != "" && steps <= len(msgs); steps++ {
			p, ok := byID[root.ParentID]
			if !ok {
				break
			}
			root = p
		}
		i, ok := index[root.ID]
		if !ok || root.ID == m.ID {
			continue
		}
		if m.DeletedAt == nil {
			out[i].ReplyCount++
		}
		if m.CreatedAt.After(out[i].LastActivityAt) {
			out[i].LastActivityAt = m.CreatedAt
		}
	}
	slices.SortStableFunc(out, func(a, b Thread) int { return b.LastActivityAt.Compare(a.LastActivityAt) })
	if out == nil {
		out = []Thread{}
	}
	return out, nil
}
