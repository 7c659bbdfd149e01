package conversation

import (
	"context"

	"github.com/tollgate/tollgate/internal/gateway"
)

// EventType names a conversation event (SPEC 7 and 7.1).
type EventType string

// The event types the service emits.
const (
	MessageCreated      EventType = "message.created"
	MessageDelta        EventType = "message.delta"
	MessageDone         EventType = "message.done"
	MessageUpdated      EventType = "message.updated"
	MessageDeleted      EventType = "message.deleted"
	MessageRestored     EventType = "message.restored"
	ConversationUpdated EventType = "conversation.updated"
	ParticipantAdded    EventType = "participant.added"
	// ParticipantRemoved is published like the others; the Publisher also
	// has the conversation's subscribers re-check their access.
	ParticipantRemoved EventType = "participant.removed"
	// UnreadUpdate concerns one reader (Unread names it); live streams
	// show it to that reader only.
	UnreadUpdate   EventType = "unread.update"
	PresenceUpdate EventType = "presence.update"
	TypingUpdate   EventType = "typing.update"
	// ConversationDeleted goes to the Publisher only, so the live streams
	// of the deleted conversation end; subscribers never see it.
	ConversationDeleted EventType = "conversation.deleted"
	// ReplyFailed tells the poster of a streamed message why the reply
	// failed or was cut (the SSE "error" event of SPEC 7). It goes to the
	// post's own Observer only, never to the Publisher.
	ReplyFailed EventType = "error"
)

// Event is one thing that happened in a conversation. Exactly the fields
// its type needs are set: Message for message.*, except message.delta,
// which sets MessageID and Delta; Conversation for conversation.updated;
// Participant for participant.*; Err for error.
type Event struct {
	Type EventType
	// Seq is the event's live-stream id (SPEC 7.1), set by the Publisher
	// before the Observer sees the event; 0 when not published.
	Seq            int64
	ConversationID string
	Message        *gateway.Message
	MessageID      string
	Delta          string
	Conversation   *gateway.Conversation
	Participant    *gateway.Participant
	Unread         *Unread
	Presence       *Presence
	Typing         *Typing
	Err            error
}

// Publisher receives the events of every conversation, in the order they
// happen within one conversation, from the goroutine that caused them, and
// returns the seq it assigned (0: none). It must not block for long: a
// hub queues, it does not wait on readers.
type Publisher interface {
	Publish(ctx context.Context, ev Event) (seq int64)
}

// Observer receives the events of one streamed post, error included.
type Observer func(ev Event)

// emit hands ev to the publisher (unless it is a poster's own error) and
// to the post's observer.
func (s *Service) emit(ctx context.Context, obs Observer, ev Event) {
	if s.publisher != nil && ev.Type != ReplyFailed {
		ev.Seq = s.publisher.Publish(ctx, ev)
	}
	if obs != nil {
		obs(ev)
	}
	if s.publisher != nil && (ev.Type == MessageCreated || ev.Type == MessageDone) && ev.Message != nil &&
		ev.Message.Status != gateway.MessagePending {
		s.emitUnread(context.WithoutCancel(ctx), ev.ConversationID, ev.Message.ID)
	}
}

// emitUnread sends unread.update to every reader a new message adds to
// (not its author; live streams show each reader its own only). A pending
// reply adds to nobody until it is done.
func (s *Service) emitUnread(ctx context.Context, conversationID, messageID string) {
	readers, err := s.store.UnreadBy(ctx, conversationID, messageID)
	if err != nil {
		s.log.WarnContext(ctx, "unread counts after a post", "conversation_id", conversationID, "err", err)
		return
	}
	for _, r := range readers {
		u := Unread{ConversationID: conversationID, UserID: r.UserID, EndUserID: r.EndUserID,
			LastReadMessageID: r.LastReadMessageID, UnreadCount: r.UnreadCount}
		s.emit(ctx, nil, Event{Type: UnreadUpdate, ConversationID: conversationID, Unread: &u})
	}
}
