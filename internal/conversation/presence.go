package conversation

import (
	"context"
	"encoding/json"
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

// Signaller carries presence and typing signals between the instances
// sharing a database; the live-event hub is one. Signals are ephemeral:
// never stored, and one lost with a connection is lost (the states it
// would have changed expire by themselves).
type Signaller interface {
	// Signal hands data to every other instance.
	Signal(ctx context.Context, data []byte)
	// Signals delivers the other instances' signals.
	Signals() <-chan []byte
}

// LocalPublisher is a Publisher that can also deliver an event to this
// instance's subscribers only, unpersisted and without a seq. Presence
// and typing events go that way: every instance derives them from its own
// view of the shared state, so each subscriber gets each change once, from
// the instance it is connected to, also when another instance died.
type LocalPublisher interface {
	PublishLocal(ctx context.Context, ev Event)
}

type typingKey struct{ conversationID, userID, endUserID string }

// typingState is one user's typing in one conversation: on since at, or
// (on false) stopped at at, kept for TypingTimeout so a late "typing"
// signal from before the stop cannot restart it.
type typingState struct {
	at time.Time
	on bool
}

// ephemeral is this instance's view of presence and typing: the changes
// made here and those other instances signalled.
type ephemeral struct {
	mu       sync.Mutex
	lastBeat map[string]time.Time // online users: their latest heartbeat
	typing   map[typingKey]typingState
}

func newEphemeral() *ephemeral {
	return &ephemeral{lastBeat: map[string]time.Time{}, typing: map[typingKey]typingState{}}
}

// signal is a presence or typing change as instances send it.
type signal struct {
	Kind    string `json:"k"` // "beat" or "typing"
	User    string `json:"u"`
	EndUser string `json:"e,omitempty"`
	Conv    string `json:"c,omitempty"`
	On      bool   `json:"on,omitempty"`
	At      int64  `json:"at"` // Unix nanoseconds at the instance that took the call
}

// Heartbeat marks p's user online for PresenceTimeout, on every instance.
// When it was not online, presence.update goes to every shared
// conversation it owns or participates in. Errors: 500 when those cannot
// be read.
func (s *Service) Heartbeat(ctx context.Context, p *gateway.Principal) error {
	o := p.Owner()
	if !gateway.ParticipantOf(o) {
		return nil // end users have no co-participants
	}
	now := s.clock()
	s.sendSignal(ctx, signal{Kind: "beat", User: o.UserID, At: now.UnixNano()})
	return s.applyBeat(ctx, o.UserID, now)
}

// applyBeat records a heartbeat in this instance's view; a beat already
// timed out (a late signal) changes nothing.
func (s *Service) applyBeat(ctx context.Context, userID string, at time.Time) error {
	if s.clock().Sub(at) >= PresenceTimeout {
		return nil
	}
	s.eph.mu.Lock()
	prev, online := s.eph.lastBeat[userID]
	if !online || at.After(prev) {
		s.eph.lastBeat[userID] = at
	}
	s.eph.mu.Unlock()
	if online {
		return nil
	}
	return s.emitPresence(ctx, userID, true)
}

func (s *Service) emitPresence(ctx context.Context, userID string, online bool) error {
	ids, err := s.store.SharedConversationIDs(ctx, userID)
	if err != nil {
		return gateway.Internal("presence: shared conversations", err)
	}
	for _, id := range ids {
		s.emitLocal(ctx, Event{Type: PresenceUpdate, ConversationID: id, Presence: &Presence{UserID: userID, Online: online}})
	}
	return nil
}

// SetTyping records that o is (or stopped) typing in a conversation it may
// post to, on every instance, and emits typing.update when that changes;
// typing ends by itself TypingTimeout after the last call. Errors: 404
// conversation_not_found, 403 insufficient_role (a reader).
func (s *Service) SetTyping(ctx context.Context, o gateway.Owner, conversationID string, typing bool) error {
	c, err := s.Get(ctx, o, conversationID)
	if err != nil {
		return err
	}
	if c.Role == gateway.ParticipantReader {
		return &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role", Message: "Requires the writer role in this conversation."}
	}
	now := s.clock()
	s.sendSignal(ctx, signal{Kind: "typing", User: o.UserID, EndUser: o.EndUserID, Conv: c.ID, On: typing, At: now.UnixNano()})
	s.applyTyping(ctx, typingKey{c.ID, o.UserID, o.EndUserID}, typing, now)
	return nil
}

// applyTyping records a typing change in this instance's view: the latest
// change wins, whichever instance took it, and one already timed out
// changes nothing.
func (s *Service) applyTyping(ctx context.Context, k typingKey, on bool, at time.Time) {
	if s.clock().Sub(at) >= TypingTimeout {
		return
	}
	s.eph.mu.Lock()
	prev, known := s.eph.typing[k]
	was := known && prev.on
	if known && at.Before(prev.at) {
		s.eph.mu.Unlock()
		return // older than what this instance knows
	}
	s.eph.typing[k] = typingState{at: at, on: on}
	s.eph.mu.Unlock()
	if was != on {
		s.emitLocal(ctx, Event{Type: TypingUpdate, ConversationID: k.conversationID, Typing: &Typing{UserID: typingUser(k), Typing: on}})
	}
}

// typingUser names who types: the user, or an app credential's end user.
func typingUser(k typingKey) string {
	if k.endUserID != "" {
		return k.endUserID
	}
	return k.userID
}

// LastHeartbeat returns the user's latest heartbeat in this instance's
// view, and whether it is online there.
func (s *Service) LastHeartbeat(userID string) (time.Time, bool) {
	s.eph.mu.Lock()
	defer s.eph.mu.Unlock()
	t, ok := s.eph.lastBeat[userID]
	return t, ok
}

// TypingSince returns when o last started typing in the conversation in
// this instance's view, and whether it is typing there.
func (s *Service) TypingSince(conversationID string, o gateway.Owner) (time.Time, bool) {
	s.eph.mu.Lock()
	defer s.eph.mu.Unlock()
	st := s.eph.typing[typingKey{conversationID, o.UserID, o.EndUserID}]
	return st.at, st.on
}

// Sweep ends the presence and typing states whose time is up at the
// service's clock and emits their updates to this instance's subscribers.
// Every instance sweeps its own view, so states end even when the
// instance that took the call is gone. RunEphemeral calls it every
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
	for k, st := range s.eph.typing {
		if now.Sub(st.at) >= TypingTimeout {
			if st.on {
				stopped = append(stopped, k)
			}
			delete(s.eph.typing, k)
		}
	}
	s.eph.mu.Unlock()
	for _, k := range stopped {
		s.emitLocal(ctx, Event{Type: TypingUpdate, ConversationID: k.conversationID, Typing: &Typing{UserID: typingUser(k), Typing: false}})
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

// RunSignals applies the other instances' presence and typing signals to
// this instance's view until ctx ends (nothing to do without a
// Signaller).
func (s *Service) RunSignals(ctx context.Context) {
	if s.signals == nil {
		return
	}
	ch := s.signals.Signals()
	for {
		select {
		case <-ctx.Done():
			return
		case data := <-ch:
			s.applySignal(ctx, data)
		}
	}
}

func (s *Service) applySignal(ctx context.Context, data []byte) {
	var sg signal
	if err := json.Unmarshal(data, &sg); err != nil || sg.User == "" {
		s.log.WarnContext(ctx, "ignored a malformed presence signal")
		return
	}
	at := time.Unix(0, sg.At).UTC()
	switch sg.Kind {
	case "beat":
		if err := s.applyBeat(ctx, sg.User, at); err != nil {
			s.log.WarnContext(ctx, "presence online", "err", err)
		}
	case "typing":
		if sg.Conv != "" {
			s.applyTyping(ctx, typingKey{sg.Conv, sg.User, sg.EndUser}, sg.On, at)
		}
	}
}

func (s *Service) sendSignal(ctx context.Context, sg signal) {
	if s.signals == nil {
		return
	}
	data, err := json.Marshal(sg)
	if err == nil {
		s.signals.Signal(ctx, data)
	}
}

// emitLocal hands a presence or typing event to this instance's
// subscribers (a Publisher that cannot do that publishes it).
func (s *Service) emitLocal(ctx context.Context, ev Event) {
	if lp, ok := s.publisher.(LocalPublisher); ok {
		lp.PublishLocal(ctx, ev)
		return
	}
	s.emit(ctx, nil, ev)
}
