// Package conversation is the conversation service: it owns what happens
// to stored conversations and messages (create, edit, delete, post a
// message and get the model's reply, streamed or whole, checkpointed while
// it streams and finished with bounded retries) and emits a domain event for every
// change. The HTTP layer only decodes requests and renders results and
// events; the live-event hub (SPEC 7.1) plugs in as the Publisher.
package conversation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
)

// Completer answers posted messages; *proxy.Proxy is one.
type Completer interface {
	Complete(ctx context.Context, req proxy.CompleteRequest) (proxy.Result, error)
	HasModel(name string) bool
	Models() []proxy.ModelInfo
}

// Options are the service's dependencies.
type Options struct {
	Store     gateway.ConversationStore
	Completer Completer
	// Publisher receives every event of every conversation (nil: none).
	Publisher Publisher
	// Users resolves the users a conversation is shared with (nil: user
	// ids are taken as given and emails are not found).
	Users Users
	// Signals carries presence and typing between instances (nil: one
	// instance); RunSignals reads it.
	Signals Signaller
	// Now is the clock of invites, share links, presence and typing
	// (nil: time.Now).
	Now func() time.Time
	// Instance is this instance's id: pending replies are stored as its
	// own, for the lease sweep ("": none).
	Instance string
	// CheckpointInterval is how often the text of a streaming reply is
	// written to its pending message (0: never).
	CheckpointInterval time.Duration
	// FinishRetry bounds how long the final write of a reply is retried
	// while the request waits (0: one attempt); after it the result is
	// kept in memory and written by RunDeferredFinishes.
	FinishRetry time.Duration
	// Registerer receives the reply durability metrics (nil: none).
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Audit records sharing, participants and invites (nil: nothing is
	// recorded).
	Audit gateway.Auditor
}

// Service is the conversation service. It is safe for concurrent use.
type Service struct {
	store     gateway.ConversationStore
	completer Completer
	publisher Publisher
	signals   Signaller
	users     Users
	now       func() time.Time
	eph       *ephemeral
	log       *slog.Logger
	audit     gateway.Auditor

	instance        string
	checkpointEvery time.Duration
	finishRetry     time.Duration
	deferred        *deferredFinishes
	metrics         replyMetrics
}

// New returns the service.
func New(opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Audit == nil {
		opt.Audit = gateway.NopAuditor{}
	}
	return &Service{store: opt.Store, completer: opt.Completer, publisher: opt.Publisher, signals: opt.Signals, users: opt.Users, now: opt.Now, eph: newEphemeral(), log: opt.Log,
		instance: opt.Instance, checkpointEvery: opt.CheckpointInterval, finishRetry: opt.FinishRetry,
		deferred: &deferredFinishes{byID: map[string]deferredFinish{}}, metrics: newReplyMetrics(opt.Registerer), audit: opt.Audit}
}

// storeError maps a store error: ErrNotFound to 404 with the code
// conversation_not_found or message_not_found (the same answer for an id
// that does not exist and for another owner's), everything else to 500.
func storeError(op string, err error, notFoundCode string) error {
	if errors.Is(err, gateway.ErrNotFound) {
		if notFoundCode == "message_not_found" {
			return gateway.NotFound(notFoundCode, "Message not found.")
		}
		return gateway.NotFound(notFoundCode, "Conversation not found.")
	}
	return gateway.Internal(op, err)
}

// CheckModel answers 404 model_not_found (param body.model) for a model
// that is not served; "" (unset) is accepted.
func (s *Service) CheckModel(m string) error {
	if m == "" || s.completer.HasModel(m) {
		return nil
	}
	return &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Param: "body.model",
		Message: fmt.Sprintf("The model %q does not exist.", m)}
}

// Create stores a new conversation of o. Errors: 404 model_not_found.
func (s *Service) Create(ctx context.Context, o gateway.Owner, c gateway.Conversation) (gateway.Conversation, error) {
	if err := s.CheckModel(c.Model); err != nil {
		return gateway.Conversation{}, err
	}
	c, err := s.store.CreateConversation(ctx, o, c)
	if err != nil {
		return gateway.Conversation{}, gateway.Internal("create conversation", err)
	}
	return c, nil
}

// List returns up to limit of o's conversations after the cursor, newest
// activity first.
func (s *Service) List(ctx context.Context, o gateway.Owner, after *gateway.ConversationCursor, limit int) ([]gateway.Conversation, error) {
	list, err := s.store.ListConversations(ctx, o, after, limit)
	if err != nil {
		return nil, gateway.Internal("list conversations", err)
	}
	return list, nil
}

// Get returns one conversation. Errors: 404 conversation_not_found.
func (s *Service) Get(ctx context.Context, o gateway.Owner, id string) (gateway.Conversation, error) {
	c, err := s.store.GetConversation(ctx, o, id)
	if err != nil {
		return c, storeError("get conversation", err, "conversation_not_found")
	}
	return c, nil
}

// CheckRead reports whether p may read (and subscribe to) the
// conversation: its owner or a participant (checked in SQL).
// Errors: 404 conversation_not_found.
func (s *Service) CheckRead(ctx context.Context, p *gateway.Principal, id string) error {
	_, err := s.Get(ctx, p.Owner(), id)
	return err
}

// Update applies p and emits conversation.updated. Errors: 404
// model_not_found, conversation_not_found.
func (s *Service) Update(ctx context.Context, o gateway.Owner, id string, p gateway.ConversationPatch) (gateway.Conversation, error) {
	if p.Model != nil {
		if err := s.CheckModel(*p.Model); err != nil {
			return gateway.Conversation{}, err
		}
	}
	c, err := s.store.UpdateConversation(ctx, o, id, p)
	if err != nil {
		return c, storeError("update conversation", err, "conversation_not_found")
	}
	// The update's own answer has no reader state (unread_count): read it.
	if got, err := s.store.GetConversation(ctx, o, id); err == nil {
		c = got
	}
	s.emit(ctx, nil, Event{Type: ConversationUpdated, ConversationID: c.ID, Conversation: &c})
	return c, nil
}

// Delete removes a conversation and its messages. Errors: 404
// conversation_not_found.
func (s *Service) Delete(ctx context.Context, o gateway.Owner, id string) error {
	if err := s.store.DeleteConversation(ctx, o, id); err != nil {
		return storeError("delete conversation", err, "conversation_not_found")
	}
	s.emit(ctx, nil, Event{Type: ConversationDeleted, ConversationID: id})
	return nil
}

// Messages returns a conversation's messages in order. Errors: 404
// conversation_not_found.
func (s *Service) Messages(ctx context.Context, o gateway.Owner, conversationID string) ([]gateway.Message, error) {
	msgs, err := s.store.ListMessages(ctx, o, conversationID)
	if err != nil {
		return nil, storeError("list messages", err, "conversation_not_found")
	}
	s.authoredAll(ctx, o, msgs)
	return msgs, nil
}

// MessagesPage returns up to limit of a conversation's messages in order,
// after message afterID ("": from the first). Errors: 404
// conversation_not_found; 400 invalid_field (param query.cursor) when
// afterID is not a message of the conversation.
func (s *Service) MessagesPage(ctx context.Context, o gateway.Owner, conversationID, afterID string, limit int) ([]gateway.Message, error) {
	msgs, err := s.store.ListMessagesPage(ctx, o, conversationID, afterID, limit)
	if errors.Is(err, gateway.ErrBadCursor) {
		return nil, gateway.Invalid("invalid_field", "query.cursor", "cursor is not a next_cursor of this list")
	}
	if err != nil {
		return nil, storeError("list messages", err, "conversation_not_found")
	}
	s.authoredAll(ctx, o, msgs)
	return msgs, nil
}

// authoredAll is authored over a list.
func (s *Service) authoredAll(ctx context.Context, o gateway.Owner, msgs []gateway.Message) {
	ptrs := make([]*gateway.Message, len(msgs))
	for i := range msgs {
		ptrs[i] = &msgs[i]
	}
	s.authored(ctx, o, ptrs...)
}

// EditMessage replaces a message's content and emits message.updated.
// Errors: 404 message_not_found.
func (s *Service) EditMessage(ctx context.Context, o gateway.Owner, id, content string) (gateway.Message, error) {
	m, err := s.store.EditMessage(ctx, o, id, content)
	if err != nil {
		return m, storeError("edit message", err, "message_not_found")
	}
	s.authored(ctx, o, &m)
	s.emit(ctx, nil, Event{Type: MessageUpdated, ConversationID: m.ConversationID, Message: &m})
	return m, nil
}

// DeleteMessage soft-deletes a message and emits message.deleted. Errors:
// 404 message_not_found.
func (s *Service) DeleteMessage(ctx context.Context, o gateway.Owner, id string) error {
	m, err := s.store.DeleteMessage(ctx, o, id)
	if err != nil {
		return storeError("delete message", err, "message_not_found")
	}
	s.authored(ctx, o, &m)
	s.emit(ctx, nil, Event{Type: MessageDeleted, ConversationID: m.ConversationID, Message: &m})
	return nil
}

// RestoreMessage undoes a soft delete and emits message.restored. Errors:
// 404 message_not_found.
func (s *Service) RestoreMessage(ctx context.Context, o gateway.Owner, id string) (gateway.Message, error) {
	m, err := s.store.RestoreMessage(ctx, o, id)
	if err != nil {
		return m, storeError("restore message", err, "message_not_found")
	}
	s.authored(ctx, o, &m)
	s.emit(ctx, nil, Event{Type: MessageRestored, ConversationID: m.ConversationID, Message: &m})
	return m, nil
}

// Search runs a full-text search over o's messages.
func (s *Service) Search(ctx context.Context, o gateway.Owner, q string, limit int) ([]gateway.SearchHit, error) {
	hits, err := s.store.SearchMessages(ctx, o, q, limit)
	if err != nil {
		return nil, gateway.Internal("search messages", err)
	}
	return hits, nil
}

// authored names the authors of user messages as o may see them: in a
// user's conversation (shared or not) the posting user's id and display
// name; in an app credential's end-user conversation nobody (the stored
// author is the credential's owner, not the end user).
func (s *Service) authored(ctx context.Context, o gateway.Owner, msgs ...*gateway.Message) {
	names := map[string]string{}
	for _, m := range msgs {
		if m.AuthorID == "" {
			continue
		}
		if o.EndUserID != "" || o.AllEndUsers {
			m.AuthorID = ""
			continue
		}
		name, ok := names[m.AuthorID]
		if !ok && s.users != nil {
			if u, err := s.users.User(ctx, m.AuthorID); err == nil {
				name = u.DisplayName
			}
			names[m.AuthorID] = name
		}
		m.AuthorName = name
	}
}
