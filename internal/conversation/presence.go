package conversation

import (
	"context"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Presence and typing time out by themselves (SPEC 7.2).
const (
	PresenceTimeout = 60 * time.Second
	TypingTimeout   = 6 * time.Second
)

// Presence is the data of presence.update: a user online or away.
type Presence struct {
	UserID string
	Online bool
}

// Typing is the data of typing.update: a user typing in a conversation or
// not.
type Typing struct {
	UserID string
	Typing bool
}

type typingKey struct{ conversationID, userID, endUserID string }

// ephemeral is this instance's presence and typing state. The events it
// causes go through the Publisher (the hub), so every instance's
// subscribers see them.
type ephemeral struct {
	mu       sync.Mutex
	lastBeat map[string]time.Time    // online users: their last heartbeat
	typing   map[typingKey]time.Time // typing users: their last typing call
}

func newEphemeral() *ephemeral {
	return &ephemeral{lastBeat: map[string]time.Time{}, typing: map[typingKey]time.Time{}}
}

// Heartbeat marks p's user online for PresenceTimeout. When it was not
// online, presence.update goes to every shared conversation it owns or
// participates in. Errors: 500 when those cannot be read.
func (s *Service) Heartbeat(ctx context.Context, p *gateway.Principal) error {
	o := p.Owner()
	if !gateway.ParticipantOf(o) {
		return nil // end users have no co-participants
	}
	now := s.clock()
	s.eph.mu.Lock()
	_, online := s.eph.lastBeat[o.UserID]
	s.eph.lastBeat[o.UserID] = now
	s.eph.mu.Unlock()
	if online {
		return nil
	}
	return s.emitPresence(ctx, o.UserID, true)
}

func (s *Service) emitPresence(ctx context.Context, userID string, online bool) error {
	ids, err := s.store.SharedConversationIDs(ctx, userID)
	if err != nil {
		return gateway.Internal("presence: shared conversations", err)
	}
	for _, id := range ids {
		s.emit(ctx, nil, Event{Type: PresenceUpdate, ConversationID: id, Presence: &Presence{UserID: userID, Online: online}})
	}
	return nil
}

// SetTyping records that o is (or stopped) typing in a conversation it may
// post to and emits typing.update when that changes; typing ends by itself
// TypingTimeout after the last call. Errors: 404 conversation_not_found,
// 403 insufficient_role (a reader).
func (s *Service) SetTyping(ctx context.Context, o gateway.Owner, conversationID string, typing bool) error {
	c, err := s.Get(ctx, o, conversationID)
	if err != nil {
		return err
	}
	if c.Role == gateway.ParticipantReader {
		return &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role", Message: "Requires the writer role in this conversation."}
	}
	k := typingKey{c.ID, o.UserID, o.EndUserID}
	s.eph.mu.Lock()
	_, was := s.eph.typing[k]
	if typing {
		s.eph.typing[k] = s.clock()
	} else {
		delete(s.eph.typing, k)
	}
	s.eph.mu.Unlock()
	if was != typing {
		s.emit(ctx, nil, Event{Type: TypingUpdate, ConversationID: c.ID, Typing: &Typing{UserID: typingUser(o), Typing: typing}})
	}
	return nil
}

// typingUser names who types: the user, or an app credential's end user.
func typingUser(o gateway.Owner) string {
	if o.EndUserID != "" {
		return o.EndUserID
	}
	return o.UserID
}

// Sweep ends the presence and typing states whose time is up at the
// service's clock and emits their updates. RunEphemeral calls it every
// second; tests call it after moving the clock.
func (s *Service) Sweep(ctx context.Context) {
	now := s.clock()
	var away []string
	var stopped []typingKey
	s.eph.mu.Lock()
	for u, t := range s.eph.lastBeat {
		if now.Sub(t) >= PresenceTimeout {
			away = append(away, u)
			delete(s.eph.lastBeat, u)
		}
	}
	for k, t := range s.eph.typing {
		if now.Sub(t) >= TypingTimeout {
			stopped = append(stopped, k)
			delete(s.eph.typing, k)
		}
	}
	s.eph.mu.Unlock()
	for _, k := range stopped {
		who := typingUser(gateway.Owner{UserID: k.userID, EndUserID: k.endUserID})
		s.emit(ctx, nil, Event{Type: TypingUpdate, ConversationID: k.conversationID, Typing: &Typing{UserID: who, Typing: false}})
	}
	for _, u := range away {
		if err := s.emitPresence(ctx, u, false); err != nil {
			s.log.WarnContext(ctx, "presence away", "err", err)
		}
	}
}

// RunEphemeral sweeps every second until ctx ends.
func (s *Service) RunEphemeral(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep(ctx)
		}
	}
}
