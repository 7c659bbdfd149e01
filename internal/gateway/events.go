package gateway

import (
	"context"
	"time"
)

// ConversationEvent is one persisted live event of a conversation (SPEC
// 7.1). Seq is assigned once by the store: per conversation, strictly
// increasing, the same for every subscriber on every instance. Data is
// the event's JSON as subscribers receive it.
type ConversationEvent struct {
	ConversationID string
	Seq            int64
	Type           string
	Data           []byte
	CreatedAt      time.Time
}

// EventBounds describe what a conversation's event log holds: Last is the
// highest seq ever assigned (0: none), First the lowest still retained
// (0: none retained).
type EventBounds struct {
	First, Last int64
}

// EventStore persists conversation events.
type EventStore interface {
	// AppendEvent assigns the conversation's next seq and stores the event
	// in one transaction; every maxPerConversation-th event it also drops
	// the events beyond that cap (0: no cap). ErrNotFound when the
	// conversation does not exist (any more).
	AppendEvent(ctx context.Context, conversationID, typ string, data []byte, maxPerConversation int) (ConversationEvent, error)
	// EventsAfter returns up to limit retained events with after < seq <=
	// upTo, in seq order.
	EventsAfter(ctx context.Context, conversationID string, after, upTo int64, limit int) ([]ConversationEvent, error)
	// EventBounds returns the conversation's bounds ({0, 0} for an unknown
	// conversation).
	EventBounds(ctx context.Context, conversationID string) (EventBounds, error)
	// PruneEvents deletes events created before the given time and returns
	// how many.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}
