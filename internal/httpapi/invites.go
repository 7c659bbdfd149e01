package httpapi

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/conversation"
	"github.com/tollgate/tollgate/internal/gateway"
)

// InviteObject is an invite as the API shows it. Token is set only in the
// answer that creates it (shown once); MaxUses is null when unlimited.
type InviteObject struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversation_id"`
	Role           string     `json:"role" enum:"reader,writer"`
	ExpiresAt      time.Time  `json:"expires_at"`
	MaxUses        *int       `json:"max_uses"`
	Uses           int        `json:"uses"`
	RevokedAt      *time.Time `json:"revoked_at"`
	CreatedAt      time.Time  `json:"created_at"`
	Token          string     `json:"token,omitempty"`
}

// InviteList is the body of GET /api/conversations/{id}/invites.
type InviteList struct {
	Data []InviteObject `json:"data"`
}

// InviteRequest is the body of POST /api/conversations/{id}/invites.
type InviteRequest struct {
	Role             *string `json:"role"`
	ExpiresInSeconds *int64  `json:"expires_in_seconds,omitempty"`
	MaxUses          *int    `json:"max_uses,omitempty"`
}

// maxInviteTTL bounds expires_in_seconds (one year).
const maxInviteTTL = 365 * 24 * 3600

// Validate requires a role; expiry 1 s to a year; max_uses 1 to 1,000,000.
func (in *InviteRequest) Validate() error {
	switch {
	case in.Role == nil:
		return gateway.Invalid("missing_field", "body.role", "role is required")
	case !gateway.ParticipantRole(*in.Role).Valid():
		return gateway.Invalid("invalid_field", "body.role", `role must be "reader" or "writer"`)
	case in.ExpiresInSeconds != nil && (*in.ExpiresInSeconds < 1 || *in.ExpiresInSeconds > maxInviteTTL):
		return gateway.Invalid("invalid_field", "body.expires_in_seconds", "expires_in_seconds must be from 1 to 31536000")
	case in.MaxUses != nil && (*in.MaxUses < 1 || *in.MaxUses > 1_000_000):
		return gateway.Invalid("invalid_field", "body.max_uses", "max_uses must be from 1 to 1000000")
	}
	return nil
}

// AcceptInviteRequest is the body of POST /api/invites/accept.
type AcceptInviteRequest struct {
	Token *string `json:"token"`
}

// Validate requires the token.
func (a *AcceptInviteRequest) Validate() error {
	if a.Token == nil || *a.Token == "" {
		return gateway.Invalid("missing_field", "body.token", "token is required")
	}
	return nil
}

func inviteObject(inv gateway.Invite) InviteObject {
	o := InviteObject{ID: inv.ID, ConversationID: inv.ConversationID, Role: string(inv.Role), ExpiresAt: inv.ExpiresAt,
		Uses: inv.Uses, RevokedAt: inv.RevokedAt, CreatedAt: inv.CreatedAt}
	if inv.MaxUses > 0 {
		m := inv.MaxUses
		o.MaxUses = &m
	}
	return o
}

func (s *Server) inviteRoutes() {
	svc := s.opt.Conversations
	viewer, contributor := Requires(gateway.RoleViewer), Requires(gateway.RoleContributor)
	tags := []string{"sharing"}
	s.Handle(Route{Method: "POST", Path: "/api/conversations/{id}/invites", Access: contributor, UserScoped: true, NoStore: true,
		OperationID: "createInvite", Summary: "Invite to a conversation (owner only); the token is shown once", Tags: tags,
		Request: InviteRequest{}, Response: InviteObject{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in InviteRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			ii := conversation.InviteInput{Role: gateway.ParticipantRole(*in.Role)}
			if in.ExpiresInSeconds != nil {
				ii.TTL = time.Duration(*in.ExpiresInSeconds) * time.Second
			}
			if in.MaxUses != nil {
				ii.MaxUses = *in.MaxUses
			}
			inv, token, err := svc.CreateInvite(r.Context(), owner(r), r.PathValue("id"), ii)
			if err != nil {
				return err
			}
			out := inviteObject(inv)
			out.Token = string(token)
			return WriteJSON(w, http.StatusCreated, out)
		}})
	s.Handle(Route{Method: "GET", Path: "/api/conversations/{id}/invites", Access: viewer, UserScoped: true,
		OperationID: "listInvites", Summary: "Invites of a conversation (owner only; never their tokens)", Tags: tags,
		Response: InviteList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			l, err := svc.Invites(r.Context(), owner(r), r.PathValue("id"))
			if err != nil {
				return err
			}
			out := InviteList{Data: make([]InviteObject, len(l))}
			for i, inv := range l {
				out.Data[i] = inviteObject(inv)
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/invites/{id}", Access: contributor,
		OperationID: "revokeInvite", Summary: "Revoke an invite (owner only)", Tags: tags, Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := svc.RevokeInvite(r.Context(), owner(r), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})
	s.Handle(Route{Method: "POST", Path: "/api/invites/accept", Access: viewer, NoStore: true,
		OperationID: "acceptInvite", Summary: "Join a conversation with an invite token", Tags: tags,
		Request: AcceptInviteRequest{}, Response: ConversationObject{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in AcceptInviteRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			c, err := svc.AcceptInvite(r.Context(), gateway.PrincipalFrom(r.Context()), *in.Token)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, conversationObject(c))
		}})
}
