package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Identity is the identity service behind the auth, setup and user routes
// (auth.Service implements it). Errors are *gateway.Error.
type Identity interface {
	Status(ctx context.Context) (gateway.AuthStatus, error)
	SetupRequired(ctx context.Context) (bool, error)
	Setup(ctx context.Context, in gateway.NewUser) (gateway.User, error)
	Register(ctx context.Context, in gateway.NewUser) (*gateway.LoginResult, error)
	Login(ctx context.Context, email string, password gateway.Secret) (*gateway.LoginResult, error)
	Logout(ctx context.Context, p *gateway.Principal) error
	User(ctx context.Context, id string) (gateway.User, error)
	ListUsers(ctx context.Context, cursor string, limit int) ([]gateway.User, string, error)
	CreateUser(ctx context.Context, in gateway.NewUser) (gateway.User, error)
	UpdateUser(ctx context.Context, id string, p gateway.UserPatch) (gateway.User, error)
	// DeleteUser soft-deletes a user (SPEC 3): deactivated, keys revoked,
	// sessions ended, data kept; it returns how many keys were revoked.
	DeleteUser(ctx context.Context, id string) (gateway.User, int, error)
}

// UserResponse is a user as the API shows it.
type UserResponse struct {
	ID          string     `json:"id"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Role        string     `json:"role" enum:"viewer,contributor,admin"`
	Active      bool       `json:"active"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	// AllowedModels and MaxParallel are shown when set (SPEC 5.1).
	AllowedModels []string `json:"allowed_models,omitempty"`
	MaxParallel   int      `json:"max_parallel,omitempty"`
}

func userResponse(u gateway.User) UserResponse {
	return UserResponse{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role.String(),
		Active: u.Active, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
		AllowedModels: u.AllowedModels, MaxParallel: u.MaxParallel}
}

// AuthStatusResponse is the body of GET /api/auth/status.
type AuthStatusResponse struct {
	Mode                string `json:"mode" enum:"open,required"`
	SetupRequired       bool   `json:"setup_required"`
	RegistrationEnabled bool   `json:"registration_enabled"`
	// OAuthProviders are the configured [[auth.oauth]] providers.
	OAuthProviders []OAuthProviderResponse `json:"oauth_providers"`
}

// OAuthProviderResponse is a sign-in provider in GET /api/auth/status.
type OAuthProviderResponse struct {
	Name string `json:"name"`
	Type string `json:"type" enum:"github,oidc,apple"`
}

// SetupStatusResponse is the body of GET /api/setup.
type SetupStatusResponse struct {
	IsSetup bool `json:"is_setup"`
}

// SetupRequest is the body of POST /api/setup.
type SetupRequest struct {
	Email       string         `json:"email"`
	Password    gateway.Secret `json:"password"`
	DisplayName string         `json:"display_name,omitempty"`
	SetupToken  gateway.Secret `json:"setup_token,omitempty" doc:"required when the server does not listen on loopback"`
}

// Validate implements Validator.
func (in *SetupRequest) Validate() error { return requireCredentials(in.Email, in.Password) }

// RegisterRequest is the body of POST /api/auth/register.
type RegisterRequest struct {
	Email       string         `json:"email"`
	Password    gateway.Secret `json:"password"`
	DisplayName string         `json:"display_name,omitempty"`
}

// Validate implements Validator.
func (in *RegisterRequest) Validate() error { return requireCredentials(in.Email, in.Password) }

// LoginRequest is the body of POST /api/auth/login.
type LoginRequest struct {
	Email    string         `json:"email"`
	Password gateway.Secret `json:"password"`
}

// Validate implements Validator.
func (in *LoginRequest) Validate() error { return requireCredentials(in.Email, in.Password) }

func requireCredentials(email string, pw gateway.Secret) error {
	if err := Required("email", email); err != nil {
		return err
	}
	return Required("password", pw.Reveal())
}

// LoginResponse is the body of login and registration.
type LoginResponse struct {
	AccessToken string       `json:"access_token"`
	TokenType   string       `json:"token_type" enum:"bearer"`
	ExpiresIn   int          `json:"expires_in"`
	User        UserResponse `json:"user"`
}

func loginResponse(res *gateway.LoginResult) LoginResponse {
	return LoginResponse{AccessToken: res.AccessToken.Reveal(), TokenType: "bearer", ExpiresIn: res.ExpiresIn, User: userResponse(res.User)}
}

// MeKey describes the API key a request used.
type MeKey struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	Role   string `json:"role"`
}

// MeResponse is the body of GET /api/auth/me: the caller's identity, with
// role always the effective role of this request.
type MeResponse struct {
	ID          string `json:"id"`
	Email       string `json:"email,omitempty"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role" enum:"viewer,contributor,admin"`
	Active      *bool  `json:"active,omitempty"`
	Key         *MeKey `json:"key,omitempty"`
	EndUserID   string `json:"end_user_id,omitempty"`
	StaticToken bool   `json:"static_token,omitempty"`
}

func (s *Server) authRoutes() {
	id := s.opt.Identity
	if id == nil {
		return
	}
	tags := []string{"auth"}
	s.Handle(Route{
		Method: "GET", Path: "/api/auth/status", Access: Public, OperationID: "authStatus", Tags: tags,
		Summary: "Auth mode, whether setup is needed, whether registration is open", Response: AuthStatusResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			st, err := id.Status(r.Context())
			if err != nil {
				return err
			}
			providers := []OAuthProviderResponse{}
			if s.opt.OAuth != nil {
				for _, p := range s.opt.OAuth.Providers() {
					providers = append(providers, OAuthProviderResponse{Name: p.Name, Type: p.Type})
				}
			}
			return WriteJSON(w, http.StatusOK, AuthStatusResponse{Mode: st.Mode, SetupRequired: st.SetupRequired,
				RegistrationEnabled: st.RegistrationEnabled, OAuthProviders: providers})
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/api/setup", Access: Public, OperationID: "setupStatus", Tags: tags,
		Summary: "Whether the first admin exists", Response: SetupStatusResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			need, err := id.SetupRequired(r.Context())
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, SetupStatusResponse{IsSetup: !need})
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/setup", Access: Public, OperationID: "setup", Tags: tags,
		Summary: "Create the first admin (once; then 409 already_set_up)", Request: SetupRequest{}, Response: UserResponse{},
		Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.opt.RegisterGuard(w, r); err != nil {
				return err
			}
			var in SetupRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			u, err := id.Setup(r.Context(), gateway.NewUser{Email: in.Email, Password: in.Password,
				DisplayName: in.DisplayName, SetupToken: in.SetupToken})
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, userResponse(u))
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/register", Access: Public, OperationID: "register", Tags: tags,
		Summary: "Self-registration (when auth.registration_enabled)", Request: RegisterRequest{}, Response: LoginResponse{},
		Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.opt.RegisterGuard(w, r); err != nil {
				return err
			}
			var in RegisterRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			res, err := id.Register(r.Context(), gateway.NewUser{Email: in.Email, Password: in.Password, DisplayName: in.DisplayName})
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, loginResponse(res))
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/login", Access: Public, OperationID: "login", Tags: tags,
		Summary: "Log in with email and password; returns a JWT access token", Request: LoginRequest{}, Response: LoginResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := s.opt.LoginGuard(w, r); err != nil {
				return err
			}
			var in LoginRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			res, err := id.Login(r.Context(), in.Email, in.Password)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, loginResponse(res))
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/logout", Access: Requires(gateway.RoleViewer), Binding: UserLogin, OperationID: "logout", Tags: tags,
		Summary: "With a JWT: revoke every JWT of the caller issued until now; with the session cookie: end that session", Status: http.StatusNoContent,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			p := gateway.PrincipalFrom(r.Context())
			if p.SessionID != "" && s.opt.Sessions != nil {
				if err := s.opt.Sessions.EndSession(r.Context(), w, p); err != nil {
					return err
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
			if err := id.Logout(r.Context(), p); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/api/auth/me", Access: Requires(gateway.RoleViewer), AppCredentials: true, OperationID: "me", Tags: tags,
		Summary: "The caller's identity and effective role", Response: MeResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return s.me(w, r, id)
		},
	})
	s.userRoutes(id)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, id Identity) error {
	p := gateway.PrincipalFrom(r.Context())
	out := MeResponse{ID: p.UserID, Email: p.Email, DisplayName: p.DisplayName, Role: p.Role.String(), EndUserID: p.EndUserID}
	switch {
	case p.Kind == gateway.PrincipalStatic:
		out.ID, out.DisplayName, out.StaticToken = "static:"+p.StaticName, p.StaticName, true
	case p.Kind == gateway.PrincipalLocal:
		active := true
		out.Active = &active
	case p.UserID != "":
		u, err := id.User(r.Context(), p.UserID)
		if err != nil {
			return gateway.Internal("me", err)
		}
		out.Email, out.DisplayName, out.Active = u.Email, u.DisplayName, &u.Active
	}
	if p.KeyID != "" {
		out.Key = &MeKey{ID: p.KeyID, Name: p.KeyName, Prefix: p.KeyPrefix, Role: p.KeyRole.String()}
	}
	return WriteJSON(w, http.StatusOK, out)
}

// parseLimit reads ?limit= (default 50, 1–200): 400 invalid_field query.limit.
func parseLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 200 {
		return 0, gateway.Invalid("invalid_field", "query.limit", "limit must be an integer from 1 to 200")
	}
	return n, nil
}
