package httpapi

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// ShareLink is the answer of POST /api/conversations/{id}/share (the token
// is shown once).
type ShareLink struct {
	Token string `json:"token"`
	URL   string `json:"url"`
}

// SharedMessage is one message of a shared conversation: nothing but the
// role, the text and the time.
type SharedMessage struct {
	Role      string    `json:"role" enum:"user,assistant"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// SharedConversation is the public body of GET /api/share/{token}.
type SharedConversation struct {
	Title            string          `json:"title"`
	OwnerDisplayName string          `json:"owner_display_name"`
	Messages         []SharedMessage `json:"messages"`
}

func (s *Server) shareRoutes() {
	svc := s.opt.Conversations
	contributor := Requires(gateway.RoleContributor)
	tags := []string{"sharing"}
	s.Handle(Route{Method: "POST", Path: "/api/conversations/{id}/share", Access: contributor, UserScoped: true, NoStore: true,
		OperationID: "shareConversation", Summary: "Publish a read-only link to the current branch (owner only; replaces an earlier link)", Tags: tags,
		Response: ShareLink{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			tok, err := svc.Share(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, ShareLink{Token: string(tok), URL: "/share/" + string(tok)})
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/conversations/{id}/share", Access: contributor, UserScoped: true,
		OperationID: "unshareConversation", Summary: "Revoke the share link (owner only)", Tags: tags, Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := svc.Unshare(r.Context(), owner(r), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.Handle(Route{Method: "GET", Path: "/api/share/{token}", Access: Public, NoStore: true,
		OperationID: "getSharedConversation", Summary: "A shared conversation: title, owner's display name, current branch", Tags: tags,
		Response: SharedConversation{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			sh, err := svc.SharedConversation(r.Context(), r.PathValue("token"))
			if err != nil {
				return err
			}
			out := SharedConversation{Title: sh.Title, OwnerDisplayName: sh.OwnerDisplayName, Messages: make([]SharedMessage, len(sh.Messages))}
			for i, m := range sh.Messages {
				out.Messages[i] = SharedMessage{Role: m.Role, Content: m.Content, CreatedAt: m.CreatedAt}
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
}
