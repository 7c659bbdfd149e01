package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
)

// UnreadObject is the answer of POST /api/conversations/{id}/read and the
// data of unread.update (shown only to the reader it concerns).
type UnreadObject struct {
	ConversationID    string  `json:"conversation_id"`
	UserID            string  `json:"user_id"`
	EndUserID         *string `json:"end_user_id"`
	LastReadMessageID string  `json:"last_read_message_id"`
	UnreadCount       int64   `json:"unread_count"`
}

// ReadRequest is the body of POST /api/conversations/{id}/read.
type ReadRequest struct {
	MessageID *string `json:"message_id"`
}

// Validate requires message_id.
func (r *ReadRequest) Validate() error {
	if r.MessageID == nil || *r.MessageID == "" {
		return gateway.Invalid("missing_field", "body.message_id", "message_id is required")
	}
	return nil
}

// ThreadObject is one thread: its root message, the number of replies
// under it (not deleted) and the time of its newest message.
type ThreadObject struct {
	Root           MessageObject `json:"root"`
	ReplyCount     int           `json:"reply_count"`
	LastActivityAt time.Time     `json:"last_activity_at"`
}

// ThreadList is the body of GET /api/conversations/{id}/threads.
type ThreadList struct {
	Data []ThreadObject `json:"data"`
}

func unreadObject(u conversation.Unread) UnreadObject {
	o := UnreadObject{ConversationID: u.ConversationID, UserID: u.UserID, LastReadMessageID: u.LastReadMessageID, UnreadCount: u.UnreadCount}
	if u.EndUserID != "" {
		eu := u.EndUserID
		o.EndUserID = &eu
	}
	return o
}

// unreadFor reports whether an unread.update event concerns o.
func unreadFor(data []byte, o gateway.Owner) bool {
	var u UnreadObject
	if json.Unmarshal(data, &u) != nil || o.AllEndUsers {
		return false
	}
	eu := ""
	if u.EndUserID != nil {
		eu = *u.EndUserID
	}
	return u.UserID == o.UserID && eu == o.EndUserID
}

func (s *Server) readRoutes() {
	svc := s.opt.Conversations
	viewer := Requires(gateway.RoleViewer)
	tags := []string{"sharing"}
	s.Handle(Route{Method: "POST", Path: "/api/conversations/{id}/read", Access: viewer, UserScoped: true,
		OperationID: "markRead", Summary: "Move the caller's read marker forward to a message", Tags: tags,
		Request: ReadRequest{}, Response: UnreadObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in ReadRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			u, err := svc.MarkRead(r.Context(), owner(r), r.PathValue("id"), *in.MessageID)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, unreadObject(u))
		}})
	s.Handle(Route{Method: "GET", Path: "/api/conversations/{id}/threads", Access: viewer, UserScoped: true,
		OperationID: "listThreads", Summary: "Root messages with reply_count and last_activity_at, newest activity first", Tags: tags,
		Response: ThreadList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			ts, err := svc.Threads(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			out := ThreadList{Data: make([]ThreadObject, len(ts))}
			for i, t := range ts {
				out.Data[i] = ThreadObject{Root: messageObject(t.Root), ReplyCount: t.ReplyCount, LastActivityAt: t.LastActivityAt}
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
}
