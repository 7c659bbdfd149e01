package httpapi

import (
	"net/http"

	"github.com/tollgate/tollgate/internal/gateway"
)

// UserList is a page of users.
type UserList struct {
	Data       []UserResponse `json:"data"`
	NextCursor *string        `json:"next_cursor"`
}

// CreateUserRequest is the body of POST /api/admin/users.
type CreateUserRequest struct {
	Email       string         `json:"email"`
	Password    gateway.Secret `json:"password"`
	DisplayName string         `json:"display_name,omitempty"`
	Role        string         `json:"role" enum:"viewer,contributor,admin"`
}

// Validate implements Validator.
func (in *CreateUserRequest) Validate() error {
	if err := requireCredentials(in.Email, in.Password); err != nil {
		return err
	}
	if err := Required("role", in.Role); err != nil {
		return err
	}
	return checkRole(in.Role)
}

func checkRole(s string) error {
	if _, err := gateway.ParseRole(s); err != nil {
		return gateway.Invalid("invalid_field", "body.role", "role must be viewer, contributor or admin")
	}
	return nil
}

// PatchUserRequest is the body of PATCH /api/admin/users/{id}.
type PatchUserRequest struct {
	Role        *string `json:"role,omitempty" enum:"viewer,contributor,admin"`
	Active      *bool   `json:"active,omitempty"`
	DisplayName *string `json:"display_name,omitempty"`
	// Password sets a new password (checked like at creation).
	Password *gateway.Secret `json:"password,omitempty"`
	// AllowedModels limits the models the user and its keys may call
	// (names and prefix* patterns; [] allows all).
	AllowedModels *[]string `json:"allowed_models,omitempty"`
	// MaxParallel caps the user's requests in flight (0: no cap).
	MaxParallel *int `json:"max_parallel,omitempty"`
}

// Validate implements Validator.
func (in *PatchUserRequest) Validate() error {
	if in.Role != nil {
		if err := checkRole(*in.Role); err != nil {
			return err
		}
	}
	if in.Password != nil {
		return Required("password", in.Password.Reveal())
	}
	return nil
}

func (s *Server) userRoutes(id Identity) {
	tags := []string{"users"}
	admin := Requires(gateway.RoleAdmin)
	s.Handle(Route{
		Method: "GET", Path: "/api/admin/users", Access: admin, OperationID: "listUsers", Tags: tags,
		Summary: "List users", Response: UserList{},
		Params: []Param{{Name: "limit", In: "query", Description: "page size, 1–200 (default 50)"},
			{Name: "cursor", In: "query", Description: "next_cursor of the previous page"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			limit, err := parseLimit(r)
			if err != nil {
				return err
			}
			users, next, err := id.ListUsers(r.Context(), r.URL.Query().Get("cursor"), limit)
			if err != nil {
				return err
			}
			out := UserList{Data: make([]UserResponse, 0, len(users))}
			for _, u := range users {
				out.Data = append(out.Data, userResponse(u))
			}
			if next != "" {
				out.NextCursor = &next
			}
			return WriteJSON(w, http.StatusOK, out)
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/admin/users", Access: admin, OperationID: "createUser", Tags: tags,
		Summary: "Create a user", Request: CreateUserRequest{}, Response: UserResponse{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in CreateUserRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			role, _ := gateway.ParseRole(in.Role)
			u, err := id.CreateUser(r.Context(), gateway.NewUser{Email: in.Email, Password: in.Password, DisplayName: in.DisplayName, Role: role})
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, userResponse(u))
		},
	})
	s.Handle(Route{
		Method: "PATCH", Path: "/api/admin/users/{id}", Access: admin, OperationID: "updateUser", Tags: tags,
		Summary: "Change a user's role, active flag, display name, password, allowed_models or max_parallel (409 last_admin)", Request: PatchUserRequest{}, Response: UserResponse{},
		Params: []Param{{Name: "id", In: "path", Description: "user id"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in PatchUserRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			var p gateway.UserPatch
			if in.Role != nil {
				role, _ := gateway.ParseRole(*in.Role)
				p.Role = &role
			}
			p.Active, p.DisplayName, p.Password = in.Active, in.DisplayName, in.Password
			if in.AllowedModels != nil {
				l := gateway.ModelList(*in.AllowedModels)
				p.AllowedModels = &l
			}
			p.MaxParallel = in.MaxParallel
			u, err := id.UpdateUser(r.Context(), r.PathValue("id"), p)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, userResponse(u))
		},
	})
	s.Handle(Route{
		Method: "DELETE", Path: "/api/admin/users/{id}", Access: admin, OperationID: "deleteUser", Tags: tags,
		Summary: "Soft-delete a user: deactivated, API keys revoked, sessions ended, data kept (409 last_admin)",
		Status:  http.StatusNoContent,
		Params:  []Param{{Name: "id", In: "path", Description: "user id"}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if _, _, err := id.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	})
}
