package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// SessionManager serves the browser-session routes (SPEC 4); auth.Service
// implements it. Errors are *gateway.Error.
type SessionManager interface {
	// CheckOrigin refuses a cross-site request: 403 csrf_failed.
	CheckOrigin(r *http.Request) error
	LoginSession(ctx context.Context, w http.ResponseWriter, r *http.Request, email string, password gateway.Secret) (gateway.User, gateway.Session, error)
	RefreshSession(ctx context.Context, w http.ResponseWriter, r *http.Request, p *gateway.Principal) (gateway.User, gateway.Session, error)
	EndSession(ctx context.Context, w http.ResponseWriter, p *gateway.Principal) error
	ListSessions(ctx context.Context, p *gateway.Principal) ([]gateway.Session, error)
	RevokeSession(ctx context.Context, w http.ResponseWriter, p *gateway.Principal, id string) error
	RevokeOtherSessions(ctx context.Context, p *gateway.Principal) error
	RevokeUserSessions(ctx context.Context, userID string) error
	// ChangePassword changes the caller's password; with a session cookie
	// it renews the current session on w (new cookies) and reports
	// rotated.
	ChangePassword(ctx context.Context, w http.ResponseWriter, r *http.Request, p *gateway.Principal, current, next gateway.Secret) (rotated bool, err error)
	// HasSessionCookie and ClearSessionCookies let the router clear the
	// cookies of a cookie request whose session is refused (401).
	HasSessionCookie(r *http.Request) bool
	ClearSessionCookies(w http.ResponseWriter)
}

// SessionInfo describes a session in the login answer.
type SessionInfo struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
}

// SessionLoginResponse is the body of POST /api/auth/sessions and POST
// /api/auth/refresh.
type SessionLoginResponse struct {
	User      UserResponse `json:"user"`
	CSRFToken string       `json:"csrf_token"`
	Session   SessionInfo  `json:"session"`
}

// SessionListItem is one of the caller's sessions.
type SessionListItem struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

// SessionList is the body of GET /api/auth/sessions.
type SessionList struct {
	Data []SessionListItem `json:"data"`
}

// ChangePasswordRequest is the body of PUT /api/auth/password.
type ChangePasswordRequest struct {
	CurrentPassword gateway.Secret `json:"current_password"`
	NewPassword     gateway.Secret `json:"new_password"`
}

// Validate implements Validator.
func (in *ChangePasswordRequest) Validate() error {
	if err := Required("current_password", in.CurrentPassword.Reveal()); err != nil {
		return err
	}
	return Required("new_password", in.NewPassword.Reveal())
}

func sessionLoginResponse(u gateway.User, s gateway.Session) SessionLoginResponse {
	return SessionLoginResponse{User: userResponse(u), CSRFToken: s.CSRFToken.Reveal(),
		Session: SessionInfo{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, IdleExpiresAt: s.IdleExpiresAt}}
}

func (s *Server) sessionRoutes() {
	sm := s.opt.Sessions
	if sm == nil {
		return
	}
	tags := []string{"sessions"}
	viewer := Requires(gateway.RoleViewer)
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/sessions", Access: Public, OperationID: "createSession", Tags: tags,
		Summary: "Sign a browser in: sets the session and CSRF cookies", Request: LoginRequest{}, Response: SessionLoginResponse{},
		Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := sm.CheckOrigin(r); err != nil {
				return err
			}
			if err := s.opt.LoginGuard(w, r); err != nil {
				return err
			}
			var in LoginRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			u, sess, err := sm.LoginSession(r.Context(), w, r, in.Email, in.Password)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, sessionLoginResponse(u, sess))
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/refresh", Access: viewer, Binding: UserLogin, OperationID: "refreshSession", Tags: tags,
		Summary: "Rotate the session id and CSRF token (cookie only; else 401 session_expired)", Response: SessionLoginResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			u, sess, err := sm.RefreshSession(r.Context(), w, r, gateway.PrincipalFrom(r.Context()))
			if err != nil {
				return err
			}
			w.Header().Set("X-Session-Rotated", "1")
			return WriteJSON(w, http.StatusOK, sessionLoginResponse(u, sess))
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/api/auth/sessions", Access: viewer, Binding: UserLogin, OperationID: "listSessions", Tags: tags,
		Summary: "The caller's own browser sessions", Response: SessionList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			p := gateway.PrincipalFrom(r.Context())
			list, err := sm.ListSessions(r.Context(), p)
			if err != nil {
				return err
			}
			out := SessionList{Data: make([]SessionListItem, 0, len(list))}
			for _, x := range list {
				out.Data = append(out.Data, SessionListItem{ID: x.ID, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
					ExpiresAt: x.ExpiresAt, UserAgent: x.UserAgent, IP: x.IP, Current: x.ID == p.SessionID})
			}
			return WriteJSON(w, http.StatusOK, out)
		},
	})
	s.Handle(Route{
		Method: "DELETE", Path: "/api/auth/sessions/{id}", Access: viewer, Binding: UserLogin, OperationID: "revokeSession", Tags: tags,
		Summary: "End one of the caller's sessions (another user's → 404)", Status: http.StatusNoContent,
		Params: []Param{{Name: "id", In: "path", Description: "session id"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := sm.RevokeSession(r.Context(), w, gateway.PrincipalFrom(r.Context()), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	})
	s.Handle(Route{
		Method: "DELETE", Path: "/api/auth/sessions", Access: viewer, Binding: UserLogin, OperationID: "revokeOtherSessions", Tags: tags,
		Summary: "End every session of the caller but the current one", Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := sm.RevokeOtherSessions(r.Context(), gateway.PrincipalFrom(r.Context())); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	})
	s.Handle(Route{
		Method: "PUT", Path: "/api/auth/password", Access: viewer, Binding: UserLogin, OperationID: "changePassword", Tags: tags,
		Summary: "Change the caller's own password; ends the caller's other sessions and earlier JWTs and renews the current session (new cookies, X-Session-Rotated: 1)", Request: ChangePasswordRequest{},
		Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.opt.LoginGuard(w, r); err != nil {
				return err
			}
			var in ChangePasswordRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			rotated, err := sm.ChangePassword(r.Context(), w, r, gateway.PrincipalFrom(r.Context()), in.CurrentPassword, in.NewPassword)
			if err != nil {
				return err
			}
			if rotated {
				w.Header().Set("X-Session-Rotated", "1")
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/admin/users/{id}/sessions/revoke", Access: Requires(gateway.RoleAdmin), OperationID: "revokeUserSessions",
		Tags: []string{"users"}, Summary: "End every browser session of a user", Status: http.StatusNoContent,
		Params: []Param{{Name: "id", In: "path", Description: "user id"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := sm.RevokeUserSessions(r.Context(), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	})
}
