package httpapi

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
)

// ParticipantObject is a participant of a shared conversation. It names
// the user by id only (no email).
type ParticipantObject struct {
	ConversationID string    `json:"conversation_id"`
	UserID         string    `json:"user_id"`
	Role           string    `json:"role" enum:"reader,writer"`
	CreatedAt      time.Time `json:"created_at"`
}

// ParticipantList is the body of GET /api/conversations/{id}/participants.
type ParticipantList struct {
	Data []ParticipantObject `json:"data"`
}

// ParticipantRequest is the body of POST /api/conversations/{id}/participants:
// the user by email or by id (exactly one), and the role.
type ParticipantRequest struct {
	Email  *string `json:"email,omitempty"`
	UserID *string `json:"user_id,omitempty"`
	Role   *string `json:"role"`
}

// Validate requires exactly one of email and user_id, and a role.
func (p *ParticipantRequest) Validate() error {
	switch {
	case p.Email == nil && p.UserID == nil:
		return gateway.Invalid("missing_field", "body.user_id", "email or user_id is required")
	case p.Email != nil && p.UserID != nil:
		return gateway.Invalid("invalid_field", "body.email", "give email or user_id, not both")
	case p.Email != nil && *p.Email == "":
		return gateway.Invalid("invalid_field", "body.email", "email must not be empty")
	case p.UserID != nil && *p.UserID == "":
		return gateway.Invalid("invalid_field", "body.user_id", "user_id must not be empty")
	case p.Role == nil:
		return gateway.Invalid("missing_field", "body.role", "role is required")
	case !gateway.ParticipantRole(*p.Role).Valid():
		return gateway.Invalid("invalid_field", "body.role", `role must be "reader" or "writer"`)
	}
	return nil
}

func participantObject(p gateway.Participant) ParticipantObject {
	return ParticipantObject{ConversationID: p.ConversationID, UserID: p.UserID, Role: string(p.Role), CreatedAt: p.CreatedAt}
}

func (s *Server) participantRoutes() {
	svc := s.opt.Conversations
	viewer, contributor := Requires(gateway.RoleViewer), Requires(gateway.RoleContributor)
	tags := []string{"sharing"}
	s.Handle(Route{Method: "GET", Path: "/api/conversations/{id}/participants", Access: viewer, UserScoped: true,
		OperationID: "listParticipants", Summary: "Participants of a conversation the caller can read", Tags: tags,
		Response: ParticipantList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			ps, err := svc.Participants(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			out := ParticipantList{Data: make([]ParticipantObject, len(ps))}
			for i, p := range ps {
				out.Data[i] = participantObject(p)
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
	s.Handle(Route{Method: "POST", Path: "/api/conversations/{id}/participants", Access: contributor, UserScoped: true,
		OperationID: "addParticipant", Summary: "Share a conversation with a user (owner only); again to change the role", Tags: tags,
		Request: ParticipantRequest{}, Response: ParticipantObject{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in ParticipantRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			p, err := svc.AddParticipant(r.Context(), owner(r), r.PathValue("id"), conversation.ParticipantInput{
				UserID: deref(in.UserID), Email: deref(in.Email), Role: gateway.ParticipantRole(*in.Role)})
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, participantObject(p))
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/conversations/{id}/participants/{user_id}", Access: viewer, UserScoped: true,
		OperationID: "removeParticipant", Summary: "Remove a participant (the owner), or leave (the participant)", Tags: tags,
		Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := svc.RemoveParticipant(r.Context(), owner(r), r.PathValue("id"), r.PathValue("user_id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
}
