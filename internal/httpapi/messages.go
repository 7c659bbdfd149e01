package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/proxy"
)

// MessageObject is a message as the API shows it. Model and Usage are null
// on user messages; a deleted message has deleted_at set and content "".
type MessageObject struct {
	ID             string        `json:"id"`
	ConversationID string        `json:"conversation_id"`
	ParentID       *string       `json:"parent_id"`
	Role           string        `json:"role" enum:"user,assistant"`
	Content        string        `json:"content"`
	Model          *string       `json:"model"`
	Status         string        `json:"status" enum:"complete,incomplete,error,pending"`
	Usage          *MessageUsage `json:"usage"`
	CreatedAt      time.Time     `json:"created_at"`
	EditedAt       *time.Time    `json:"edited_at"`
	DeletedAt      *time.Time    `json:"deleted_at"`
}

// MessageUsage is the token count of an assistant message.
type MessageUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// MessageList is the body of GET /api/conversations/{id}/messages.
type MessageList struct {
	Data []MessageObject `json:"data"`
}

// PostMessageRequest is the body of POST /api/conversations/{id}/messages.
type PostMessageRequest struct {
	Content  *string `json:"content"`
	Model    *string `json:"model,omitempty"`
	ParentID *string `json:"parent_id,omitempty"`
	Stream   bool    `json:"stream,omitempty"`
}

// Validate requires a non-empty content.
func (p *PostMessageRequest) Validate() error { return validContent(p.Content) }

// PostMessageResponse is the non-streamed answer of a posted message.
type PostMessageResponse struct {
	UserMessage      MessageObject `json:"user_message"`
	AssistantMessage MessageObject `json:"assistant_message"`
}

// EditMessageRequest is the body of PATCH /api/messages/{id}.
type EditMessageRequest struct {
	Content *string `json:"content"`
}

// Validate requires a non-empty content.
func (e *EditMessageRequest) Validate() error { return validContent(e.Content) }

func validContent(c *string) error {
	if c == nil {
		return gateway.Invalid("missing_field", "body.content", "content is required")
	}
	if strings.TrimSpace(*c) == "" {
		return gateway.Invalid("invalid_field", "body.content", "content must not be empty")
	}
	if strings.IndexByte(*c, 0) >= 0 {
		return gateway.Invalid("invalid_field", "body.content", "content must not contain NUL characters")
	}
	return nil
}

// DeltaEvent is the data of a message.delta event.
type DeltaEvent struct {
	MessageID string `json:"message_id"`
	Delta     string `json:"delta"`
}

// SearchResults is the body of GET /api/search.
type SearchResults struct {
	Data []SearchHit `json:"data"`
}

// SearchHit is one search result; snippet marks matches with **.
type SearchHit struct {
	ConversationID string    `json:"conversation_id"`
	MessageID      string    `json:"message_id"`
	Snippet        string    `json:"snippet"`
	CreatedAt      time.Time `json:"created_at"`
}

func messageObject(m gateway.Message) MessageObject {
	o := MessageObject{ID: m.ID, ConversationID: m.ConversationID, Role: m.Role, Content: m.Content,
		Status: string(m.Status), CreatedAt: m.CreatedAt, EditedAt: m.EditedAt, DeletedAt: m.DeletedAt}
	if m.ParentID != "" {
		p := m.ParentID
		o.ParentID = &p
	}
	if m.Role == "assistant" {
		model := m.Model
		o.Model = &model
		o.Usage = &MessageUsage{PromptTokens: m.PromptTokens, CompletionTokens: m.CompletionTokens,
			TotalTokens: m.PromptTokens + m.CompletionTokens}
	}
	return o
}

func (s *Server) messageRoutes() {
	st := s.opt.Conversations
	viewer, contributor := Requires(gateway.RoleViewer), Requires(gateway.RoleContributor)
	tags := []string{"conversations"}
	s.Handle(Route{Method: "GET", Path: "/api/conversations/{id}/messages", Access: viewer, UserScoped: true,
		OperationID: "listMessages", Summary: "Messages of a conversation in order; parent_id forms branches", Tags: tags,
		Response: MessageList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			msgs, err := st.ListMessages(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return convStoreError("list messages", err, "conversation_not_found")
			}
			out := MessageList{Data: make([]MessageObject, len(msgs))}
			for i, m := range msgs {
				out.Data[i] = messageObject(m)
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
	s.Handle(Route{Method: "POST", Path: "/api/conversations/{id}/messages", Access: contributor, UserScoped: true,
		OperationID: "postMessage", Tags: tags,
		Summary: "Post a message and get the model's reply; stream: true answers with server-sent events",
		Request: PostMessageRequest{}, Response: PostMessageResponse{}, Status: http.StatusCreated,
		Handler: s.postMessage})
	s.Handle(Route{Method: "PATCH", Path: "/api/messages/{id}", Access: contributor, UserScoped: true,
		OperationID: "editMessage", Summary: "Edit a message's content (sets edited_at)", Tags: tags,
		Request: EditMessageRequest{}, Response: MessageObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in EditMessageRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			m, err := st.EditMessage(r.Context(), owner(r), r.PathValue("id"), *in.Content)
			if err != nil {
				return convStoreError("edit message", err, "message_not_found")
			}
			return WriteJSON(w, http.StatusOK, messageObject(m))
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/messages/{id}", Access: contributor, UserScoped: true,
		OperationID: "deleteMessage", Summary: "Soft-delete a message", Tags: tags, Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := st.DeleteMessage(r.Context(), owner(r), r.PathValue("id")); err != nil {
				return convStoreError("delete message", err, "message_not_found")
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.Handle(Route{Method: "POST", Path: "/api/messages/{id}/restore", Access: contributor, UserScoped: true,
		OperationID: "restoreMessage", Summary: "Undo a soft delete", Tags: tags, Response: MessageObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			m, err := st.RestoreMessage(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return convStoreError("restore message", err, "message_not_found")
			}
			return WriteJSON(w, http.StatusOK, messageObject(m))
		}})
	s.Handle(Route{Method: "GET", Path: "/api/search", Access: viewer, UserScoped: true,
		OperationID: "searchMessages", Summary: "Full-text search over the caller's messages, best match first", Tags: tags,
		Response: SearchResults{},
		Params: []Param{{Name: "q", In: "query", Description: "words to find (all of them); taken as text"},
			{Name: "limit", In: "query", Description: "1-100, default 20"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			q := r.URL.Query().Get("q")
			if strings.TrimSpace(q) == "" {
				return gateway.Invalid("missing_field", "query.q", "q is required")
			}
			limit, err := queryLimit(r, 20, 100)
			if err != nil {
				return err
			}
			hits, err := st.SearchMessages(r.Context(), owner(r), q, limit)
			if err != nil {
				return gateway.Internal("search messages", err)
			}
			out := SearchResults{Data: make([]SearchHit, len(hits))}
			for i, h := range hits {
				out.Data[i] = SearchHit{ConversationID: h.ConversationID, MessageID: h.MessageID, Snippet: h.Snippet, CreatedAt: h.CreatedAt}
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
}

// postMessage stores the user message and a pending assistant message in
// one transaction, asks the model, and finishes the assistant message
// with one update.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := gateway.PrincipalFrom(ctx)
	o := p.Owner()
	var in PostMessageRequest
	if err := DecodeJSON(r, &in, false); err != nil {
		return err
	}
	st := s.opt.Conversations
	conv, err := st.GetConversation(ctx, o, r.PathValue("id"))
	if err != nil {
		return convStoreError("post message", err, "conversation_not_found")
	}
	model := deref(in.Model)
	if model == "" {
		model = conv.Model
	}
	if model == "" {
		if ms := s.opt.Completer.Models(); len(ms) > 0 {
			model = ms[0].ID
		}
	}
	if !s.opt.Completer.HasModel(model) {
		e := &gateway.Error{Kind: gateway.KindNotFound, Code: "model_not_found", Message: "The model \"" + model + "\" does not exist."}
		if in.Model != nil {
			e.Param = "body.model"
		}
		return e
	}
	x, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: conv.ID, ParentID: deref(in.ParentID), Content: *in.Content, Model: model})
	switch {
	case errors.Is(err, gateway.ErrBadParent):
		return &gateway.Error{Kind: gateway.KindNotFound, Code: "message_not_found", Param: "body.parent_id",
			Message: "parent_id is not a message of this conversation."}
	case err != nil:
		return convStoreError("post message", err, "conversation_not_found")
	}
	req := proxy.CompleteRequest{Principal: p, Model: model, Messages: modelMessages(x), RequestID: RequestID(ctx)}
	if in.Stream {
		s.streamReply(w, r, o, x, req)
		return nil
	}
	res, cerr := s.opt.Completer.Complete(ctx, req)
	final, ferr := s.finishReply(ctx, o, x.Assistant.ID, res, cerr)
	if ferr != nil {
		return ferr
	}
	if cerr != nil {
		if ctx.Err() != nil {
			return nil // the client left; the message is stored as incomplete
		}
		return cerr
	}
	return WriteJSON(w, http.StatusCreated, PostMessageResponse{UserMessage: messageObject(x.User), AssistantMessage: messageObject(final)})
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

// finishReply stores the outcome of the completion on the pending
// assistant message with one update, detached from the request's
// cancellation (a client that left still gets its partial text stored).
// If that write fails, it retries once marking the message as error (with
// the same text), so the message never stays pending; the caller answers
// with the returned error.
func (s *Server) finishReply(ctx context.Context, o gateway.Owner, id string, res proxy.Result, cerr error) (gateway.Message, error) {
	r := gateway.MessageResult{Content: res.Content, Status: gateway.MessageComplete,
		PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens}
	switch {
	case cerr != nil && ctx.Err() != nil:
		r.Status = gateway.MessageIncomplete
	case cerr != nil:
		r.Status = gateway.MessageError
	case res.Status != gateway.UsageOK:
		r.Status = gateway.MessageIncomplete
	}
	dctx := context.WithoutCancel(ctx)
	m, err := s.opt.Conversations.FinishMessage(dctx, o, id, r)
	if err == nil {
		return m, nil
	}
	s.log.ErrorContext(ctx, "store assistant message", "message_id", id, "status", string(r.Status), "err", err)
	r.Status = gateway.MessageError
	if _, err2 := s.opt.Conversations.FinishMessage(dctx, o, id, r); err2 != nil {
		s.log.ErrorContext(ctx, "mark assistant message as error", "message_id", id, "err", err2)
	}
	return gateway.Message{}, gateway.Internal("finish message", err)
}

// streamReply answers with server-sent events: message.created (user,
// then the pending assistant message), message.delta per piece of text,
// error when the model failed, and message.done with the stored assistant
// message. When storing the reply fails, error is the last event.
func (s *Server) streamReply(w http.ResponseWriter, r *http.Request, o gateway.Owner, x gateway.Exchange, req proxy.CompleteRequest) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var buf []byte
	send := func(event string, v any) {
		data, _ := json.Marshal(v)
		buf = llm.AppendEvent(buf[:0], event, string(data))
		if _, err := w.Write(buf); err == nil {
			_ = rc.Flush()
		}
	}
	send("message.created", messageObject(x.User))
	send("message.created", messageObject(x.Assistant))
	req.OnDelta = func(d string) { send("message.delta", DeltaEvent{MessageID: x.Assistant.ID, Delta: d}) }
	res, cerr := s.opt.Completer.Complete(ctx, req)
	switch {
	case cerr != nil && ctx.Err() == nil:
		_, body, _ := Envelope(cerr)
		send("error", body)
	case res.Err != nil && ctx.Err() == nil:
		_, body, _ := Envelope(res.Err)
		send("error", body)
	}
	final, ferr := s.finishReply(ctx, o, x.Assistant.ID, res, cerr)
	if ferr != nil {
		_, body, _ := Envelope(ferr)
		send("error", body)
		return
	}
	send("message.done", messageObject(final))
}
