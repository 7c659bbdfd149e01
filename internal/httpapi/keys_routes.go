package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// KeyManager manages API keys and the key→JWT exchange (auth.Keys
// implements it). Errors are *gateway.Error.
type KeyManager interface {
	CreateKey(ctx context.Context, ownerID string, maxRole gateway.Role, in gateway.NewAPIKey) (gateway.APIKey, gateway.Secret, error)
	ListKeys(ctx context.Context, ownerID, cursor string, limit int) ([]gateway.APIKey, string, error)
	RevokeKey(ctx context.Context, id, ownerID string) error
	RotateKey(ctx context.Context, id, ownerID string, grace time.Duration) (gateway.APIKey, gateway.Secret, error)
	UpdateKey(ctx context.Context, id, ownerID string, p gateway.APIKeyPatch) (gateway.APIKey, error)
	Key(ctx context.Context, id, ownerID string) (gateway.APIKey, error)
	Exchange(ctx context.Context, p *gateway.Principal) (gateway.Secret, int, error)
}

// KeyResponse is an API key as the API shows it: never the secret or its
// hash, except Key, the secret itself, once at creation and rotation.
type KeyResponse struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	OwnerID     string     `json:"owner_id"`
	Role        string     `json:"role" enum:"viewer,contributor,admin"`
	EndUserMode bool       `json:"end_user_mode"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	// AllowedModels and MaxParallel are shown when set (SPEC 5.1).
	AllowedModels []string `json:"allowed_models,omitempty"`
	MaxParallel   int      `json:"max_parallel,omitempty"`
	Key           string   `json:"key,omitempty" doc:"the secret, shown only by create and rotate"`
}

func keyResponse(k gateway.APIKey, secret gateway.Secret) KeyResponse {
	return KeyResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, OwnerID: k.OwnerID, Role: k.Role.String(),
		EndUserMode: k.EndUserMode, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt,
		RevokedAt: k.RevokedAt, Key: secret.Reveal(), AllowedModels: k.AllowedModels, MaxParallel: k.MaxParallel}
}

// KeyList is a page of keys.
type KeyList struct {
	Data       []KeyResponse `json:"data"`
	NextCursor *string       `json:"next_cursor"`
}

// CreateKeyRequest is the body of POST /api/keys.
type CreateKeyRequest struct {
	Name             string  `json:"name"`
	Role             *string `json:"role,omitempty" enum:"viewer,contributor,admin"`
	ExpiresInSeconds *int64  `json:"expires_in_seconds,omitempty"`
	EndUserMode      bool    `json:"end_user_mode,omitempty"`
	// AllowedModels limits the models the key may call (names and
	// prefix* patterns; empty: all that its owner may call).
	AllowedModels []string `json:"allowed_models,omitempty"`
	// MaxParallel caps the key's requests in flight (0: no cap).
	MaxParallel int `json:"max_parallel,omitempty"`
}

// PatchKeyRequest is the body of PATCH /api/keys/{id} and
// /api/admin/keys/{id}.
type PatchKeyRequest struct {
	Name          *string   `json:"name,omitempty"`
	AllowedModels *[]string `json:"allowed_models,omitempty"`
	MaxParallel   *int      `json:"max_parallel,omitempty"`
}

func (in PatchKeyRequest) patch() gateway.APIKeyPatch {
	p := gateway.APIKeyPatch{Name: in.Name, MaxParallel: in.MaxParallel}
	if in.AllowedModels != nil {
		l := gateway.ModelList(*in.AllowedModels)
		p.AllowedModels = &l
	}
	return p
}

// Validate implements Validator.
func (in *CreateKeyRequest) Validate() error {
	if err := Required("name", in.Name); err != nil {
		return err
	}
	if in.Role != nil {
		if err := checkRole(*in.Role); err != nil {
			return err
		}
	}
	if in.ExpiresInSeconds != nil && (*in.ExpiresInSeconds < 1 || *in.ExpiresInSeconds > 100*365*86400) {
		return gateway.Invalid("invalid_field", "body.expires_in_seconds", "expires_in_seconds must be a positive number of seconds")
	}
	return nil
}

// RotateKeyRequest is the body of POST /api/keys/{id}/rotate.
type RotateKeyRequest struct {
	GraceSeconds int64 `json:"grace_seconds,omitempty" doc:"how long the old secret keeps working (default 0)"`
}

// Validate implements Validator.
func (in *RotateKeyRequest) Validate() error {
	if in.GraceSeconds < 0 || in.GraceSeconds > 30*86400 {
		return gateway.Invalid("invalid_field", "body.grace_seconds", "grace_seconds must be from 0 to 2592000 (30 days)")
	}
	return nil
}

// TokenResponse is the body of POST /api/auth/token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type" enum:"bearer"`
	ExpiresIn   int    `json:"expires_in"`
}

// keyOwner returns the user the caller's keys belong to. The key routes
// are UserBound, so the router admitted only a user or the user's own
// (non-app) key.
func keyOwner(r *http.Request) *gateway.Principal { return gateway.PrincipalFrom(r.Context()) }

func (s *Server) keyRoutes() {
	km := s.opt.Keys
	if km == nil {
		return
	}
	tags := []string{"keys"}
	contributor, admin := Requires(gateway.RoleContributor), Requires(gateway.RoleAdmin)
	pageParams := []Param{{Name: "limit", In: "query", Description: "page size, 1–200 (default 50)"},
		{Name: "cursor", In: "query", Description: "next_cursor of the previous page"}}
	idParam := []Param{{Name: "id", In: "path", Description: "key id"}}
	list := func(w http.ResponseWriter, r *http.Request, ownerID string) error {
		limit, err := parseLimit(r)
		if err != nil {
			return err
		}
		keys, next, err := km.ListKeys(r.Context(), ownerID, r.URL.Query().Get("cursor"), limit)
		if err != nil {
			return err
		}
		out := KeyList{Data: make([]KeyResponse, 0, len(keys))}
		for _, k := range keys {
			out.Data = append(out.Data, keyResponse(k, ""))
		}
		if next != "" {
			out.NextCursor = &next
		}
		return WriteJSON(w, http.StatusOK, out)
	}
	revoke := func(w http.ResponseWriter, r *http.Request, ownerID string) error {
		if err := km.RevokeKey(r.Context(), r.PathValue("id"), ownerID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.Handle(Route{
		Method: "GET", Path: "/api/keys", Access: contributor, Binding: UserBound, OperationID: "listKeys", Tags: tags,
		Summary: "List the caller's API keys", Response: KeyList{}, Params: pageParams,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return list(w, r, keyOwner(r).UserID)
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/keys", Access: contributor, Binding: UserBound, OperationID: "createKey", Tags: tags,
		Summary: "Create an API key (the secret is in the answer, once)", Request: CreateKeyRequest{}, Response: KeyResponse{},
		Status: http.StatusCreated, NoStore: true,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			p := keyOwner(r)
			var in CreateKeyRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			nk := gateway.NewAPIKey{Name: in.Name, EndUserMode: in.EndUserMode, AllowedModels: in.AllowedModels, MaxParallel: in.MaxParallel}
			if in.Role != nil {
				nk.Role, _ = gateway.ParseRole(*in.Role)
			}
			if in.ExpiresInSeconds != nil {
				nk.ExpiresIn = time.Duration(*in.ExpiresInSeconds) * time.Second
			}
			k, secret, err := km.CreateKey(r.Context(), p.UserID, p.Role, nk)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, keyResponse(k, secret))
		},
	})
	s.Handle(Route{
		Method: "DELETE", Path: "/api/keys/{id}", Access: contributor, Binding: UserBound, OperationID: "revokeKey", Tags: tags,
		Summary: "Revoke one of the caller's keys (another user's: 404)", Status: http.StatusNoContent, Params: idParam,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return revoke(w, r, keyOwner(r).UserID)
		},
	})
	update := func(w http.ResponseWriter, r *http.Request, ownerID string) error {
		var in PatchKeyRequest
		if err := DecodeJSON(r, &in, false); err != nil {
			return err
		}
		k, err := km.UpdateKey(r.Context(), r.PathValue("id"), ownerID, in.patch())
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, keyResponse(k, ""))
	}
	s.Handle(Route{
		Method: "PATCH", Path: "/api/keys/{id}", Access: contributor, Binding: UserBound, OperationID: "updateKey", Tags: tags,
		Summary: "Change one of the caller's keys: name, allowed_models, max_parallel (another user's: 404)",
		Request: PatchKeyRequest{}, Response: KeyResponse{}, Params: idParam,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return update(w, r, keyOwner(r).UserID)
		},
	})
	s.Handle(Route{
		Method: "PATCH", Path: "/api/admin/keys/{id}", Access: admin, OperationID: "adminUpdateKey", Tags: tags,
		Summary: "Change any key: name, allowed_models, max_parallel", Request: PatchKeyRequest{}, Response: KeyResponse{}, Params: idParam,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return update(w, r, "")
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/keys/{id}/rotate", Access: contributor, Binding: UserBound, OperationID: "rotateKey", Tags: tags,
		Summary: "New secret for one of the caller's keys; the old one works for grace_seconds", Request: RotateKeyRequest{},
		Response: KeyResponse{}, Params: idParam, NoStore: true,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			p := keyOwner(r)
			var in RotateKeyRequest
			if err := DecodeJSON(r, &in, true); err != nil {
				return err
			}
			k, secret, err := km.RotateKey(r.Context(), r.PathValue("id"), p.UserID, time.Duration(in.GraceSeconds)*time.Second)
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, keyResponse(k, secret))
		},
	})
	s.Handle(Route{
		Method: "GET", Path: "/api/admin/keys", Access: admin, OperationID: "listAllKeys", Tags: tags,
		Summary: "List every API key", Response: KeyList{},
		Params: append([]Param{{Name: "owner_id", In: "query", Description: "only this user's keys"}}, pageParams...),
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return list(w, r, r.URL.Query().Get("owner_id"))
		},
	})
	s.Handle(Route{
		Method: "DELETE", Path: "/api/admin/keys/{id}", Access: admin, OperationID: "adminRevokeKey", Tags: tags,
		Summary: "Revoke any API key", Status: http.StatusNoContent, Params: idParam,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			return revoke(w, r, "")
		},
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/token", Access: Requires(gateway.RoleViewer), AppCredentials: true, OperationID: "exchangeToken", Tags: []string{"auth"},
		Summary: "Exchange an API key or static token for a JWT with its identity", Response: TokenResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			tok, ttl, err := km.Exchange(r.Context(), gateway.PrincipalFrom(r.Context()))
			if err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, TokenResponse{AccessToken: tok.Reveal(), TokenType: "bearer", ExpiresIn: ttl})
		},
	})
}
