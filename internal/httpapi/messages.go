package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
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
	// Author is who posted a user message in a user's conversation
	// (shared or not); null for assistant messages and in end users'
	// conversations.
	Author    *MessageAuthor `json:"author"`
	CreatedAt time.Time      `json:"created_at"`
	EditedAt  *time.Time     `json:"edited_at"`
	DeletedAt *time.Time     `json:"deleted_at"`
}

// MessageAuthor names the user who posted a message.
type MessageAuthor struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name"`
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
	// NextCursor continues the list (the cursor query parameter); null on
	// the last page.
	NextCursor *string `json:"next_cursor"`
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
	if m.AuthorID != "" {
		o.Author = &MessageAuthor{UserID: m.AuthorID, DisplayName: m.AuthorName}
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
	svc := s.opt.Conversations
	viewer, contributor := Requires(gateway.RoleViewer), Requires(gateway.RoleContributor)
	tags := []string{"conversations"}
	s.Handle(Route{Method: "GET", Path: "/api/conversations/{id}/messages", Access: viewer, UserScoped: true,
		OperationID: "listMessages", Summary: "Messages of a conversation in order; parent_id forms branches", Tags: tags,
		Response: MessageList{},
		Params: []Param{{Name: "limit", In: "query", Description: fmt.Sprintf("1-%d, default %d", maxMessagePage, maxMessagePage)},
			{Name: "cursor", In: "query", Description: "next_cursor of the previous page"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryLimit(r, maxMessagePage, maxMessagePage)
			if err != nil {
				return err
			}
			var after string
			if v := r.URL.Query().Get("cursor"); v != "" {
				if after, err = decodeMessageCursor(v); err != nil {
					return err
				}
			}
			msgs, err := svc.MessagesPage(r.Context(), owner(r), r.PathValue("id"), after, limit+1)
			if err != nil {
				return err
			}
			out := MessageList{Data: make([]MessageObject, 0, min(len(msgs), limit))}
			if len(msgs) > limit {
				msgs = msgs[:limit]
				next := encodeMessageCursor(msgs[limit-1].ID)
				out.NextCursor = &next
			}
			for _, m := range msgs {
				out.Data = append(out.Data, messageObject(m))
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
			m, err := svc.EditMessage(r.Context(), owner(r), r.PathValue("id"), *in.Content)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, messageObject(m))
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/messages/{id}", Access: contributor, UserScoped: true,
		OperationID: "deleteMessage", Summary: "Soft-delete a message", Tags: tags, Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := svc.DeleteMessage(r.Context(), owner(r), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.Handle(Route{Method: "POST", Path: "/api/messages/{id}/restore", Access: contributor, UserScoped: true,
		OperationID: "restoreMessage", Summary: "Undo a soft delete", Tags: tags, Response: MessageObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			m, err := svc.RestoreMessage(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return err
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
			hits, err := svc.Search(r.Context(), owner(r), q, limit)
			if err != nil {
				return err
			}
			out := SearchResults{Data: make([]SearchHit, len(hits))}
			for i, h := range hits {
				out.Data[i] = SearchHit{ConversationID: h.ConversationID, MessageID: h.MessageID, Snippet: h.Snippet, CreatedAt: h.CreatedAt}
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
}

// postMessage decodes a post and hands it to the conversation service:
// a 201 with both stored messages, or, with stream: true, the service's
// events as server-sent events (message.created, message.delta, error,
// message.done). An error before any event is answered as the envelope.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in PostMessageRequest
	if err := DecodeJSON(r, &in, false); err != nil {
		return err
	}
	post := conversation.PostInput{ConversationID: r.PathValue("id"), Content: *in.Content,
		Model: deref(in.Model), ParentID: deref(in.ParentID), RequestID: RequestID(ctx), Route: r.Pattern}
	p := gateway.PrincipalFrom(ctx)
	if in.Stream {
		es := &eventStream{w: w, rc: http.NewResponseController(w)}
		_, err := s.opt.Conversations.Post(ctx, p, post, es.send)
		if es.started {
			return nil // every outcome went out as an event
		}
		return err
	}
	posted, err := s.opt.Conversations.Post(ctx, p, post, nil)
	if err != nil {
		if ctx.Err() != nil && !gateway.ShuttingDown(ctx) {
			return nil // the client left; the message is stored as incomplete
		}
		return err
	}
	return WriteJSON(w, http.StatusCreated, PostMessageResponse{UserMessage: messageObject(posted.User), AssistantMessage: messageObject(posted.Assistant)})
}

// eventStream writes conversation events as server-sent events; the
// response starts with the first event.
type eventStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	buf     []byte
	started bool
}

func (es *eventStream) send(ev conversation.Event) {
	if !es.started {
		h := es.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		es.w.WriteHeader(http.StatusOK)
		es.started = true
	}
	var data []byte
	switch {
	case ev.Type == conversation.ReplyFailed:
		es.buf = AppendErrorEvent(es.buf[:0], string(ev.Type), ev.Err)
	case ev.Type == conversation.MessageDelta:
		data, _ = json.Marshal(DeltaEvent{MessageID: ev.MessageID, Delta: ev.Delta})
	case ev.Message != nil:
		data, _ = json.Marshal(messageObject(*ev.Message))
	default:
		return
	}
	if data != nil {
		es.buf = llm.AppendEvent(appendEventID(es.buf[:0], ev.Seq), string(ev.Type), string(data))
	}
	if _, err := es.w.Write(es.buf); err == nil {
		_ = es.rc.Flush()
	}
}

// maxMessagePage is the default and largest page of a conversation's
// messages: clients that do not paginate get up to this many at once.
const maxMessagePage = 1000

// messageCursor is the decoded form of a message list's next_cursor:
// base64url (no padding) of this JSON.
type messageCursor struct {
	After string `json:"after"` // the id of the last message of the page
}

func encodeMessageCursor(id string) string {
	return encodeListCursor(messageCursor{After: id})
}

// decodeMessageCursor returns the message id a cursor continues after, or
// 400 invalid_field (param query.cursor). Whether the message belongs to
// the conversation is the store's check.
func decodeMessageCursor(s string) (string, error) {
	var c messageCursor
	if decodeListCursor(s, &c) != nil || c.After == "" {
		return "", errBadCursor
	}
	return c.After, nil
}
