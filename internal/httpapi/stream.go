package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/events"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// keepAlive is how long a live stream stays silent before a comment line
// (SPEC 7.1: at least every 15 s).
const keepAlive = 15 * time.Second

// ReadChecker decides who may read a conversation's live events: the
// owner or a participant. *conversation.Service is
// one. Errors: 404 conversation_not_found.
type ReadChecker interface {
	CheckRead(ctx context.Context, p *gateway.Principal, conversationID string) error
}

// EventPublisher is the conversation service's Publisher that persists
// every event through the hub as the API shows it (the same JSON as the
// REST routes and the streamed post) and returns its seq. A deleted
// conversation becomes an access change: its streams end.
type EventPublisher struct {
	Hub events.Hub
	Log *slog.Logger
}

// Publish implements conversation.Publisher.
func (p EventPublisher) Publish(ctx context.Context, ev conversation.Event) int64 {
	if ev.Type == conversation.ConversationDeleted {
		p.Hub.AccessChanged(ctx, ev.ConversationID)
		return 0
	}
	if ev.Type == conversation.ParticipantRemoved {
		defer p.Hub.AccessChanged(ctx, ev.ConversationID)
	}
	data, ok := eventData(ev)
	if !ok {
		return 0
	}
	seq, err := p.Hub.Publish(ctx, ev.ConversationID, string(ev.Type), data)
	if err != nil && !errors.Is(err, gateway.ErrNotFound) && p.Log != nil {
		p.Log.ErrorContext(ctx, "publish conversation event", "conversation_id", ev.ConversationID, "type", string(ev.Type), "err", err)
	}
	return seq
}

// PublishLocal implements conversation.LocalPublisher: presence and
// typing go to this instance's subscribers only, without a seq.
func (p EventPublisher) PublishLocal(ctx context.Context, ev conversation.Event) {
	if data, ok := eventData(ev); ok {
		p.Hub.PublishLocal(ev.ConversationID, string(ev.Type), data)
	}
}

// eventData is the JSON of a conversation event as subscribers get it.
func eventData(ev conversation.Event) ([]byte, bool) {
	var v any
	switch {
	case ev.Type == conversation.MessageDelta:
		v = DeltaEvent{MessageID: ev.MessageID, Delta: ev.Delta}
	case ev.Message != nil:
		v = messageObject(*ev.Message)
	case ev.Conversation != nil:
		c := *ev.Conversation
		c.Role, c.UnreadCount = "", 0 // the caller's, not every subscriber's
		v = conversationObject(c)
	case ev.Unread != nil:
		v = unreadObject(*ev.Unread)
	case ev.Presence != nil:
		v = presenceObject(*ev.Presence)
	case ev.Typing != nil:
		v = TypingObject{UserID: ev.Typing.UserID, Typing: ev.Typing.Typing}
	case ev.Participant != nil:
		v = participantObject(*ev.Participant)
	default:
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// appendEventID appends an SSE "id:" line (nothing for seq 0).
func appendEventID(dst []byte, seq int64) []byte {
	if seq <= 0 {
		return dst
	}
	dst = append(dst, "id: "...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, '\n')
}

// StreamEventTypes are the event types of GET /api/stream/conversations/{id}.
type StreamEventTypes struct {
	Type string `json:"type" enum:"message.created,message.delta,message.done,message.updated,message.deleted,message.restored,conversation.updated,participant.added,participant.removed,unread.update,presence.update,typing.update,resync"`
}

func (s *Server) streamRoutes() {
	if s.opt.Events == nil || s.opt.Conversations == nil {
		return
	}
	s.Handle(Route{Method: "GET", Path: "/api/stream/conversations/{id}", Access: Requires(gateway.RoleViewer), UserScoped: true,
		OperationID: "streamConversation", Tags: []string{"conversations"},
		Summary: "Live events of one conversation (server-sent events; resume with Last-Event-ID)",
		Params:  []Param{{Name: "Last-Event-ID", In: "header", Description: "resume after this event id"}},
		Handler: s.streamConversation})
}

// streamConversation serves one subscriber: 404 unless the caller may
// read the conversation, then every retained event after Last-Event-ID and
// the live events, with a comment line when nothing was sent for
// keepAlive. The stream ends when the client leaves, when it is too slow
// (it resumes with Last-Event-ID), when its access ends and at shutdown.
func (s *Server) streamConversation(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	p := gateway.PrincipalFrom(ctx)
	var checker ReadChecker = s.opt.Conversations
	check := func(ctx context.Context) error { return checker.CheckRead(ctx, p, id) }
	if err := check(ctx); err != nil {
		return err
	}
	sub, err := s.opt.Events.Subscribe(ctx, id, r.Header.Get("Last-Event-ID"), check)
	if err != nil {
		if errors.Is(err, events.ErrClosed) {
			return gateway.ShutdownError()
		}
		return gateway.Internal("subscribe", err)
	}
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	buf := []byte(": connected\n\n")
	for {
		if _, err := w.Write(buf); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		ev, err := sub.Next(ctx, keepAlive)
		switch {
		case errors.Is(err, events.ErrIdle):
			buf = append(buf[:0], ": keep-alive\n\n"...)
			continue
		case errors.Is(err, events.ErrClosed):
			buf = AppendErrorEvent(buf[:0], "error", gateway.ShutdownError())
			_, _ = w.Write(buf)
			return nil
		case err != nil:
			return nil // client gone, too slow, or access ended
		}
		if ev.Type == string(conversation.UnreadUpdate) && !unreadFor(ev.Data, p.Owner()) {
			buf = buf[:0]
			continue // another reader's marker
		}
		buf = appendEventID(buf[:0], ev.Seq)
		buf = llm.AppendEvent(buf, ev.Type, string(ev.Data))
	}
}
