package gateway

import (
	"context"
	"errors"
	"time"
)

// Conversation is a chat history owned by a user or by (app credential
// owner, end user). Model and SystemPrompt are "" when unset.
type Conversation struct {
	ID           string
	UserID       string // the owning user (Owner.UserID)
	EndUserID    string // "" for a user's own conversation
	Title        string
	Model        string
	SystemPrompt string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// LastActivityAt is the later of the creation, the last change of the
	// conversation's fields and the last message posted to it; lists are
	// ordered by it, newest first.
	LastActivityAt time.Time
	// Role is the reader's relation to the conversation: RoleOwner, or
	// the participant role of a shared conversation.
	Role ParticipantRole
	// UnreadCount is the number of messages after the reader's read
	// marker that others posted (their user messages and the replies to
	// them), not deleted or pending. Set by GetConversation and
	// ListConversations.
	UnreadCount int64
}

// MessageStatus says how a message ended.
type MessageStatus string

// The message statuses. Pending is transient: the assistant message of a
// completion in flight (or left by a crash until the start-up sweep).
const (
	MessageComplete   MessageStatus = "complete"
	MessageIncomplete MessageStatus = "incomplete"
	MessageError      MessageStatus = "error"
	MessagePending    MessageStatus = "pending"
)

// Message is one message of a conversation. ParentID is "" for a root
// message; messages sharing a parent are branches.
type Message struct {
	ID               string
	ConversationID   string
	ParentID         string
	Role             string // "user" or "assistant"
	Content          string
	Model            string // the model asked for ("" for user messages)
	Status           MessageStatus
	PromptTokens     int64
	CompletionTokens int64
	// AuthorID is the user who posted a user message ("" for assistant
	// messages).
	AuthorID string
	// AuthorName is the author's display name, filled by the conversation
	// service for the API (stores leave it empty).
	AuthorName string
	CreatedAt  time.Time
	EditedAt   *time.Time
	DeletedAt  *time.Time
}

// ConversationPatch changes the non-nil fields of a conversation.
type ConversationPatch struct {
	Title        *string
	Model        *string
	SystemPrompt *string
}

// ConversationCursor is a keyset position in a conversation list: the
// list continues with conversations older than (LastActivityAt, ID).
type ConversationCursor struct {
	LastActivityAt time.Time
	ID             string
}

// NewExchange is the input of StartExchange: a user message posted to a
// conversation and the assistant message to be filled by the model.
type NewExchange struct {
	ConversationID string
	// ParentID is the message replied to; "" continues after the most
	// recent message of the conversation (or starts it).
	ParentID string
	Content  string
	Model    string
	// Instance is the id of the instance generating the reply: the
	// pending assistant message is its until finished, and is swept to
	// incomplete when that instance's lease expires.
	Instance string
}

// Exchange is what StartExchange stored: the conversation, the user
// message, the pending assistant message, and the path sent to the model
// (ancestors of the user message, oldest first, without deleted, pending
// or failed messages, then the user message).
type Exchange struct {
	Conversation Conversation
	User         Message
	Assistant    Message
	Path         []Message
}

// MessageResult finishes a pending assistant message.
type MessageResult struct {
	Content          string
	Status           MessageStatus
	PromptTokens     int64
	CompletionTokens int64
}

// SearchHit is one full-text search result.
type SearchHit struct {
	ConversationID string
	MessageID      string
	Snippet        string
	CreatedAt      time.Time
}

// ErrBadParent is returned by StartExchange when the parent message is not
// a message of the conversation visible to the owner.
var ErrBadParent = errors.New("parent is not a message of this conversation")

// ErrBadCursor is returned by ListMessagesPage when the message to continue
// after is not a message of the conversation.
var ErrBadCursor = errors.New("cursor is not a message of this conversation")

// ConversationStore keeps conversations and messages. Every method is
// scoped by the owner in SQL: another owner's id is ErrNotFound exactly as
// an id that does not exist. A tenant-wide owner (AllEndUsers) reads every
// end user of Owner.UserID; writes need a single owner.
type ConversationStore interface {
	// CreateConversation stores a new conversation of o (ID and times are
	// set by the store).
	CreateConversation(ctx context.Context, o Owner, c Conversation) (Conversation, error)
	// GetConversation returns ErrNotFound for a conversation o cannot see.
	GetConversation(ctx context.Context, o Owner, id string) (Conversation, error)
	// ListConversations returns up to limit conversations, newest activity
	// first, after the cursor (nil: from the start).
	ListConversations(ctx context.Context, o Owner, after *ConversationCursor, limit int) ([]Conversation, error)
	// UpdateConversation applies p; ErrNotFound as GetConversation.
	UpdateConversation(ctx context.Context, o Owner, id string, p ConversationPatch) (Conversation, error)
	// DeleteConversation removes the conversation and its messages.
	DeleteConversation(ctx context.Context, o Owner, id string) error
	// ListMessages returns the conversation's messages in creation order;
	// ErrNotFound for a conversation o cannot see.
	ListMessages(ctx context.Context, o Owner, conversationID string) ([]Message, error)
	// ListMessagesPage returns up to limit messages in creation order,
	// after message afterID ("": from the first). ErrNotFound for a
	// conversation o cannot see, ErrBadCursor when afterID is not a
	// message of it.
	ListMessagesPage(ctx context.Context, o Owner, conversationID, afterID string, limit int) ([]Message, error)
	// StartExchange stores, in one transaction, the user message and a
	// pending assistant message replying to it, and bumps the
	// conversation's activity. ErrNotFound for an unseen conversation,
	// ErrBadParent for a parent outside it.
	StartExchange(ctx context.Context, o Owner, in NewExchange) (Exchange, error)
	// FinishMessage sets content, usage and status of a pending assistant
	// message in one update; ErrNotFound if it is not pending (so a
	// message is finished once).
	FinishMessage(ctx context.Context, o Owner, id string, r MessageResult) (Message, error)
	// CheckpointMessage stores the text generated so far of a pending
	// assistant message; ErrNotFound when it is no longer pending.
	CheckpointMessage(ctx context.Context, o Owner, id, content string) error
	// EditMessage replaces the content of a message that is not deleted
	// and sets EditedAt; ErrNotFound otherwise.
	EditMessage(ctx context.Context, o Owner, id, content string) (Message, error)
	// DeleteMessage soft-deletes a message (idempotent) and returns it as
	// readers now see it.
	DeleteMessage(ctx context.Context, o Owner, id string) (Message, error)
	// RestoreMessage undoes DeleteMessage (idempotent) and returns the message.
	RestoreMessage(ctx context.Context, o Owner, id string) (Message, error)
	// SearchMessages runs a full-text search over o's messages that are
	// not deleted. query is text: operators and quotes are searched for
	// literally. Results are ranked best first.
	SearchMessages(ctx context.Context, o Owner, query string, limit int) ([]SearchHit, error)
	// AddParticipant adds userID to o's user-owned conversation with the
	// role (or changes its role). ErrNotFound unless o owns the
	// conversation and it is not an end user's.
	AddParticipant(ctx context.Context, o Owner, conversationID, userID string, role ParticipantRole) (Participant, error)
	// ListParticipants returns the participants of a conversation o can
	// read, oldest first; ErrNotFound otherwise.
	ListParticipants(ctx context.Context, o Owner, conversationID string) ([]Participant, error)
	// RemoveParticipant removes userID from the conversation when o owns
	// it or o is that participant; ErrNotFound otherwise.
	RemoveParticipant(ctx context.Context, o Owner, conversationID, userID string) (Participant, error)
	InviteStore
	ShareStore
	// MarkRead moves o's read marker of a conversation it can read forward
	// to messageID (never back) and returns the conversation as o now
	// sees it. ErrNotFound for a conversation o cannot read; ErrBadParent
	// for a message outside it.
	MarkRead(ctx context.Context, o Owner, conversationID, messageID string) (Conversation, error)
	// UnreadBy returns, for every reader of the conversation (its owner
	// and participants) whose unread count the message adds to (someone
	// else's, not deleted or pending, after the reader's marker), the
	// reader's marker and count now. Nothing for an unknown message.
	UnreadBy(ctx context.Context, conversationID, messageID string) ([]ReaderUnread, error)
	// SharedConversationIDs returns the conversations with participants
	// that userID owns or participates in (where its presence is shown).
	SharedConversationIDs(ctx context.Context, userID string) ([]string, error)
}

// LeaseStore keeps the instance leases: a heartbeat row per running
// instance, and the sweep of pending assistant messages whose instance is
// gone.
type LeaseStore interface {
	// Heartbeat writes instance id's heartbeat time (creating its row).
	Heartbeat(ctx context.Context, id string, at time.Time) error
	// RemoveInstance deletes instance id's row.
	RemoveInstance(ctx context.Context, id string) error
	// SweepOrphanedMessages marks as incomplete (keeping their text) the
	// pending messages of instances other than self whose heartbeat is
	// older than leaseExpiredBefore, and those without an instance created
	// before legacyBefore; it returns how many.
	SweepOrphanedMessages(ctx context.Context, self string, leaseExpiredBefore, legacyBefore time.Time) (int64, error)
}
