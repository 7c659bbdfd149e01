package conversation

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/proxy"
)

// PostInput is a message to post.
type PostInput struct {
	ConversationID string
	Content        string
	// Model is the model to ask; "" uses the conversation's model, then
	// the first served model.
	Model string
	// ParentID is the message replied to; "" continues the conversation
	// from its newest message (the store decides).
	ParentID string
	// RequestID is recorded with the usage and forwarded upstream.
	RequestID string
	// Route is the route pattern the post came in on (for token budgets
	// assigned to it).
	Route string
}

// Posted is the stored outcome of a post: the user message and the
// assistant message as finished (complete, incomplete or error).
type Posted struct {
	User, Assistant gateway.Message
}

// Post stores the user message and a pending assistant message (owned by
// this instance) in one transaction, asks the model with the conversation
// path (system prompt, then ancestors), checkpoints the reply's text at
// most every CheckpointInterval while it streams (off the stream's path),
// and finishes the assistant message with one update, retried for up to
// FinishRetry.
//
// Events go to the Publisher and to obs (nil: none), in order:
// message.created (user), message.created (assistant), message.delta per
// piece of text, error when the reply failed or was cut (obs only), and
// message.done with the stored assistant message.
//
// The completion is charged to p, the poster (a writer of a shared
// conversation pays for its own replies, not the owner).
//
// Errors before anything was stored: 404 conversation_not_found, 403
// insufficient_role (a reader of a shared conversation),
// model_not_found (param body.model when in.Model was given),
// message_not_found (param body.parent_id). After that, Post returns the
// completion's error when no answer began (the assistant message is then
// stored with status error, or incomplete when ctx ended), or a 500 when
// the finished message could not be stored within FinishRetry (its
// checkpoint stands, and the outcome is written later by
// RunDeferredFinishes or, if this instance dies, the lease sweep marks it
// incomplete); Posted holds what was stored.
func (s *Service) Post(ctx context.Context, p *gateway.Principal, in PostInput, obs Observer) (Posted, error) {
	o := p.Owner()
	conv, err := s.store.GetConversation(ctx, o, in.ConversationID)
	if err != nil {
		return Posted{}, storeError("post message", err, "conversation_not_found")
	}
	if conv.Role == gateway.ParticipantReader {
		return Posted{}, &gateway.Error{Kind: gateway.KindPermission, Code: "insufficient_role",
			Message: "Requires the writer role in this conversation."}
	}
	model := in.Model
	if model == "" {
		model = conv.Model
	}
	if model == "" {
		if ms := s.completer.Models(); len(ms) > 0 {
			model = ms[0].ID
		}
	}
	if !s.completer.HasModel(model) {
		e := &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Message: "The model \"" + model + "\" does not exist."}
		if in.Model != "" {
			e.Param = "body.model"
		}
		return Posted{}, e
	}
	if !p.ModelAllowed(model) {
		return Posted{}, gateway.ModelNotAllowed(model)
	}
	x, err := s.store.StartExchange(ctx, o, gateway.NewExchange{ConversationID: conv.ID, ParentID: in.ParentID, Content: in.Content, Model: model,
		Instance: s.instance})
	switch {
	case errors.Is(err, gateway.ErrBadParent):
		return Posted{}, &gateway.Error{Kind: gateway.KindNotFound, Code: "message_not_found", Param: "body.parent_id",
			Message: "parent_id is not a message of this conversation."}
	case err != nil:
		return Posted{}, storeError("post message", err, "conversation_not_found")
	}
	out := Posted{User: x.User, Assistant: x.Assistant}
	s.authored(ctx, o, &out.User)
	s.emit(ctx, obs, Event{Type: MessageCreated, ConversationID: conv.ID, Message: &out.User})
	s.emit(ctx, obs, Event{Type: MessageCreated, ConversationID: conv.ID, Message: &out.Assistant})

	req := proxy.CompleteRequest{Principal: p, Model: model, Messages: modelMessages(x), RequestID: in.RequestID, Route: in.Route}
	cp := s.startCheckpoints(ctx, o, x.Assistant.ID)
	emitDeltas := obs != nil || s.publisher != nil
	req.OnDelta = func(d string) {
		cp.add(d)
		if emitDeltas {
			s.emit(ctx, obs, Event{Type: MessageDelta, ConversationID: conv.ID, MessageID: x.Assistant.ID, Delta: d})
		}
	}
	res, cerr := s.completer.Complete(ctx, req)
	cp.end()
	// A poster that left hears nothing more; one cut by the server's
	// shutdown hears why (server_shutting_down), then message.done.
	if ctx.Err() == nil || gateway.ShuttingDown(ctx) {
		if failure := replyFailure(res, cerr); failure != nil {
			s.emit(ctx, obs, Event{Type: ReplyFailed, ConversationID: conv.ID, MessageID: x.Assistant.ID, Err: failure})
		}
	}
	final, ferr := s.finishReply(ctx, o, x.Assistant.ID, res, cerr)
	if ferr != nil {
		s.emit(ctx, obs, Event{Type: ReplyFailed, ConversationID: conv.ID, MessageID: x.Assistant.ID, Err: ferr})
		return out, ferr
	}
	out.Assistant = final
	s.emit(ctx, obs, Event{Type: MessageDone, ConversationID: conv.ID, Message: &out.Assistant})
	if cerr != nil {
		return out, cerr
	}
	return out, nil
}

// replyFailure is why a reply did not complete: the completion's error
// when no answer began, else the cut of a begun answer, else nil.
func replyFailure(res proxy.Result, cerr error) error {
	if cerr != nil {
		return cerr
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// modelMessages is the conversation path as chat messages: the system
// prompt, then the ancestors of the new user message, then it.
func modelMessages(x gateway.Exchange) []llm.Message {
	var out []llm.Message
	add := func(role, text string) {
		b, _ := json.Marshal(text)
		out = append(out, llm.Message{Role: role, Content: b})
	}
	if x.Conversation.SystemPrompt != "" {
		add("system", x.Conversation.SystemPrompt)
	}
	for _, m := range x.Path {
		add(m.Role, m.Content)
	}
	return out
}
