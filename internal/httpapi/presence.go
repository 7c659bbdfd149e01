package httpapi

import (
	"net/http"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
)

// PresenceObject is the data of presence.update.
type PresenceObject struct {
	UserID string `json:"user_id"`
	Status string `json:"status" enum:"online,away"`
}

// TypingObject is the data of typing.update.
type TypingObject struct {
	UserID string `json:"user_id"`
	Typing bool   `json:"typing"`
}

// TypingRequest is the body of POST /api/conversations/{id}/typing.
type TypingRequest struct {
	Typing *bool `json:"typing"`
}

// Validate requires typing.
func (t *TypingRequest) Validate() error {
	if t.Typing == nil {
		return gateway.Invalid("missing_field", "body.typing", "typing is required")
	}
	return nil
}

func presenceObject(p conversation.Presence) PresenceObject {
	st := "away"
	if p.Online {
		st = "online"
	}
	return PresenceObject{UserID: p.UserID, Status: st}
}

func (s *Server) presenceRoutes() {
	svc := s.opt.Conversations
	tags := []string{"sharing"}
	s.Handle(Route{Method: "POST", Path: "/api/presence/heartbeat", Access: Requires(gateway.RoleViewer),
		OperationID: "presenceHeartbeat", Summary: "Online for 60 s after the last heartbeat, then away", Tags: tags,
		Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := svc.Heartbeat(r.Context(), gateway.PrincipalFrom(r.Context())); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.Handle(Route{Method: "POST", Path: "/api/conversations/{id}/typing", Access: Requires(gateway.RoleContributor), UserScoped: true,
		OperationID: "setTyping", Summary: "Typing or not; typing ends by itself 6 s after the last call", Tags: tags,
		Request: TypingRequest{}, Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in TypingRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			if err := svc.SetTyping(r.Context(), owner(r), r.PathValue("id"), *in.Typing); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
}
