package gateway

import "time"

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

// ParticipantOf reports whether o is a plain user, the only kind of owner
// that can participate in another user's conversation (end users of app
// credentials and tenant-wide views cannot).
func ParticipantOf(o Owner) bool { return !o.AllEndUsers && o.EndUserID == "" }
