package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/gateway"
)

// ConversationObject is a conversation as the API shows it. Model and
// SystemPrompt are "" when unset; EndUserID is null for a user's own
// conversation.
type ConversationObject struct {
	ID             string    `json:"id"`
	Title          string    `json:"title"`
	Model          string    `json:"model"`
	SystemPrompt   string    `json:"system_prompt"`
	EndUserID      *string   `json:"end_user_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	LastActivityAt time.Time `json:"last_activity_at"`
	// Role is the caller's: owner, or its participant role. Role and
	// UnreadCount are the caller's, so the conversation.updated event
	// (seen by every participant) leaves both out.
	Role string `json:"role,omitempty" enum:"owner,reader,writer"`
	// UnreadCount is the number of messages others posted after the
	// caller's read marker.
	UnreadCount *int64 `json:"unread_count,omitempty"`
}

// ConversationList is the body of GET /api/conversations.
type ConversationList struct {
	Data       []ConversationObject `json:"data"`
	NextCursor *string              `json:"next_cursor"`
}

// ConversationRequest is the body of POST and PATCH /api/conversations.
type ConversationRequest struct {
	Title        *string `json:"title,omitempty"`
	Model        *string `json:"model,omitempty"`
	SystemPrompt *string `json:"system_prompt,omitempty"`
}

// maxTitle bounds a conversation title, in characters.
const maxTitle = 500

// Validate checks the title length and that no text holds a NUL
// character (PostgreSQL cannot store it; SQLite could, and both engines
// must answer alike).
func (c *ConversationRequest) Validate() error {
	if c.Title != nil && utf8.RuneCountInString(*c.Title) > maxTitle {
		return gateway.Invalid("invalid_field", "body.title", fmt.Sprintf("title must be at most %d characters", maxTitle))
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"title", c.Title}, {"system_prompt", c.SystemPrompt}} {
		if f.v != nil && strings.IndexByte(*f.v, 0) >= 0 {
			return gateway.Invalid("invalid_field", "body."+f.name, f.name+" must not contain NUL characters")
		}
	}
	return nil
}

func conversationObject(c gateway.Conversation) ConversationObject {
	o := ConversationObject{ID: c.ID, Title: c.Title, Model: c.Model, SystemPrompt: c.SystemPrompt,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, LastActivityAt: c.LastActivityAt, Role: string(c.Role)}
	if c.Role != "" {
		n := c.UnreadCount
		o.UnreadCount = &n
	}
	if c.EndUserID != "" {
		eu := c.EndUserID
		o.EndUserID = &eu
	}
	return o
}

func owner(r *http.Request) gateway.Owner { return gateway.PrincipalFrom(r.Context()).Owner() }

func (s *Server) conversationRoutes() {
	svc := s.opt.Conversations
	if svc == nil {
		return
	}
	viewer, contributor := Requires(gateway.RoleViewer), Requires(gateway.RoleContributor)
	tags := []string{"conversations"}
	s.Handle(Route{Method: "POST", Path: "/api/conversations", Access: contributor, UserScoped: true,
		OperationID: "createConversation", Summary: "Create a conversation", Tags: tags,
		Request: ConversationRequest{}, Response: ConversationObject{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in ConversationRequest
			if err := DecodeJSON(r, &in, true); err != nil {
				return err
			}
			c, err := svc.Create(r.Context(), owner(r), gateway.Conversation{
				Title: deref(in.Title), Model: deref(in.Model), SystemPrompt: deref(in.SystemPrompt)})
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, conversationObject(c))
		}})
	s.Handle(Route{Method: "GET", Path: "/api/conversations", Access: viewer, UserScoped: true,
		OperationID: "listConversations", Summary: "The caller's conversations, newest activity first", Tags: tags,
		Response: ConversationList{},
		Params: []Param{{Name: "limit", In: "query", Description: "1-200, default 50"},
			{Name: "cursor", In: "query", Description: "next_cursor of the previous page"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := queryLimit(r, 50, 200)
			if err != nil {
				return err
			}
			var after *gateway.ConversationCursor
			if v := r.URL.Query().Get("cursor"); v != "" {
				if after, err = decodeCursor(v); err != nil {
					return err
				}
			}
			list, err := svc.List(r.Context(), owner(r), after, limit+1)
			if err != nil {
				return err
			}
			out := ConversationList{Data: []ConversationObject{}}
			if len(list) > limit {
				list = list[:limit]
				next := encodeCursor(list[limit-1])
				out.NextCursor = &next
			}
			for _, c := range list {
				out.Data = append(out.Data, conversationObject(c))
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
	s.Handle(Route{Method: "GET", Path: "/api/conversations/{id}", Access: viewer, UserScoped: true,
		OperationID: "getConversation", Summary: "One conversation", Tags: tags, Response: ConversationObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			c, err := svc.Get(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, conversationObject(c))
		}})
	s.Handle(Route{Method: "PATCH", Path: "/api/conversations/{id}", Access: contributor, UserScoped: true,
		OperationID: "updateConversation", Summary: "Change title, model or system prompt", Tags: tags,
		Request: ConversationRequest{}, Response: ConversationObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in ConversationRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			c, err := svc.Update(r.Context(), owner(r), r.PathValue("id"),
				gateway.ConversationPatch{Title: in.Title, Model: in.Model, SystemPrompt: in.SystemPrompt})
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, conversationObject(c))
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/conversations/{id}", Access: contributor, UserScoped: true,
		OperationID: "deleteConversation", Summary: "Delete a conversation and its messages", Tags: tags,
		Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := svc.Delete(r.Context(), owner(r), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.messageRoutes()
	s.participantRoutes()
	s.inviteRoutes()
	s.shareRoutes()
	s.readRoutes()
	s.presenceRoutes()
	s.streamRoutes()
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// queryLimit parses ?limit=: def when absent, else 1..maxLimit.
func queryLimit(r *http.Request, def, maxLimit int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, gateway.Invalid("invalid_field", "query.limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxLimit))
	}
	return n, nil
}

// cursor is the decoded form of next_cursor: base64url (no padding) of
// this JSON.
type cursor struct {
	T  int64  `json:"t"` // last_activity_at, Unix microseconds
	ID string `json:"id"`
}

func encodeCursor(c gateway.Conversation) string {
	return encodeListCursor(cursor{T: c.LastActivityAt.UnixMicro(), ID: c.ID})
}

func decodeCursor(s string) (*gateway.ConversationCursor, error) {
	var c cursor
	if decodeListCursor(s, &c) != nil || c.ID == "" || strings.IndexByte(c.ID, 0) >= 0 {
		return nil, errBadCursor
	}
	return &gateway.ConversationCursor{LastActivityAt: time.UnixMicro(c.T).UTC(), ID: c.ID}, nil
}
