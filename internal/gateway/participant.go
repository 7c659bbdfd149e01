package gateway

import (
	"context"
	"time"
)

// ParticipantRole is what a user may do in a conversation shared with it
// (SPEC 7.2); RoleOwner marks the owner's own conversations.
type ParticipantRole string

// The conversation roles. Readers read and subscribe; writers also post
// and edit their own messages; the owner alone renames, deletes, shares and
// manages participants.
const (
	RoleOwner         ParticipantRole = "owner"
	ParticipantReader ParticipantRole = "reader"
	ParticipantWriter ParticipantRole = "writer"
)

// Valid reports whether r is a role a participant can have.
func (r ParticipantRole) Valid() bool { return r == ParticipantReader || r == ParticipantWriter }

// Participant is a user a conversation is shared with.
type Participant struct {
	ConversationID string
	UserID         string
	Role           ParticipantRole
	CreatedAt      time.Time
}

// ReaderUnread is one reader's read marker (the message id, "" before
// the first read) and unread count in a conversation.
type ReaderUnread struct {
	UserID, EndUserID string
	LastReadMessageID string
	UnreadCount       int64
}

// ParticipantOf reports whether o is a plain user, the only kind of owner
// that can participate in another user's conversation (end users of app
// credentials and tenant-wide views cannot).
func ParticipantOf(o Owner) bool { return !o.AllEndUsers && o.EndUserID == "" }

// Invite lets whoever holds its token join a conversation with a role
// (SPEC 7.2). Only the token's SHA-256 is stored; MaxUses 0 is unlimited.
type Invite struct {
	ID             string
	ConversationID string
	TokenHash      string
	Role           ParticipantRole
	ExpiresAt      time.Time
	MaxUses        int
	Uses           int
	RevokedAt      *time.Time
	CreatedAt      time.Time
}

// InviteStore keeps invites. Every method but AcceptInvite is scoped to
// the conversation's owner in SQL (ErrNotFound otherwise).
type InviteStore interface {
	// CreateInvite stores inv for o's user-owned conversation (ID and
	// CreatedAt are set by the store).
	CreateInvite(ctx context.Context, o Owner, inv Invite) (Invite, error)
	// ListInvites returns the conversation's invites, newest first.
	ListInvites(ctx context.Context, o Owner, conversationID string) ([]Invite, error)
	// RevokeInvite revokes an invite (idempotent).
	RevokeInvite(ctx context.Context, o Owner, id string) (Invite, error)
	// AcceptInvite uses the invite whose token hashes to tokenHash, unless
	// it is revoked, expired at now or used up (ErrNotFound), and makes
	// userID a participant with its role (a participant keeps its role; the
	// owner joins nothing and uses nothing), in one transaction. It
	// returns the invite.
	AcceptInvite(ctx context.Context, tokenHash, userID string, now time.Time) (Invite, error)
}

// ShareStore keeps the public share link of a conversation (SPEC 7.2):
// one per conversation, found by the SHA-256 of its token.
type ShareStore interface {
	// SetShare creates or replaces the share link of o's user-owned
	// conversation (the previous token stops working). ErrNotFound
	// otherwise.
	SetShare(ctx context.Context, o Owner, conversationID, tokenHash string) error
	// DeleteShare revokes it; ErrNotFound when o has no share link there.
	DeleteShare(ctx context.Context, o Owner, conversationID string) error
	// SharedConversation returns the conversation shared under tokenHash
	// and its messages in order; ErrNotFound for an unknown token.
	SharedConversation(ctx context.Context, tokenHash string) (Conversation, []Message, error)
}
