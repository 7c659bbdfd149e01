package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
)

// BudgetManager manages budgets (SPEC 5.1); *budget.Service is one.
// Errors are *gateway.Error.
type BudgetManager interface {
	List(ctx context.Context) ([]gateway.Budget, error)
	Create(ctx context.Context, b *gateway.Budget) error
	Update(ctx context.Context, b *gateway.Budget) error
	Delete(ctx context.Context, id string) error
	PutSubject(ctx context.Context, b *gateway.Budget) error
	DeleteSubject(ctx context.Context, t gateway.BudgetSubjectType, subject string) error
	Statuses(ctx context.Context, p *gateway.Principal) ([]budget.Status, error)
}

// BudgetRequest is the body of POST /api/admin/budgets and PUT
// /api/admin/budgets/{id}.
type BudgetRequest struct {
	SubjectType  string          `json:"subject_type" enum:"key,user,end_user,role"`
	Subject      string          `json:"subject"`
	Period       string          `json:"period" enum:"day,week,month,total"`
	MaxTokens    *int64          `json:"max_tokens,omitempty"`
	MaxCost      *gateway.Micros `json:"max_cost,omitempty" doc:"decimal string or number, currency units"`
	AlertPercent int             `json:"alert_percent,omitempty"`
}

// KeyBudgetRequest is the body of PUT /api/keys/{id}/budget.
type KeyBudgetRequest struct {
	Period       string          `json:"period" enum:"day,week,month,total"`
	MaxTokens    *int64          `json:"max_tokens,omitempty"`
	MaxCost      *gateway.Micros `json:"max_cost,omitempty"`
	AlertPercent int             `json:"alert_percent,omitempty"`
}

// BudgetResponse is a budget as the API shows it.
type BudgetResponse struct {
	ID           string          `json:"id"`
	SubjectType  string          `json:"subject_type"`
	Subject      string          `json:"subject"`
	Period       string          `json:"period"`
	MaxTokens    *int64          `json:"max_tokens"`
	MaxCost      *gateway.Micros `json:"max_cost"`
	AlertPercent int             `json:"alert_percent"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

func budgetResponse(b gateway.Budget) BudgetResponse {
	return BudgetResponse{ID: b.ID, SubjectType: string(b.SubjectType), Subject: b.Subject, Period: string(b.Period),
		MaxTokens: b.MaxTokens, MaxCost: b.MaxCost, AlertPercent: b.AlertPercent, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

// BudgetList is every budget.
type BudgetList struct {
	Data       []BudgetResponse `json:"data"`
	NextCursor *string          `json:"next_cursor"`
}

// Amount is tokens and cost.
type Amount struct {
	Tokens int64          `json:"tokens"`
	Cost   gateway.Micros `json:"cost"`
}

// BudgetStatus is one budget of GET /api/limits: settled use (spent),
// open reservations (reserved) and what is left under each cap
// (remaining; a field without a cap is null).
type BudgetStatus struct {
	BudgetResponse
	Spent     Amount     `json:"spent"`
	Reserved  Amount     `json:"reserved"`
	Remaining Remaining  `json:"remaining"`
	ResetsAt  *time.Time `json:"resets_at"`
}

// Remaining is what a budget still admits (null: no cap of that kind).
type Remaining struct {
	Tokens *int64          `json:"tokens"`
	Cost   *gateway.Micros `json:"cost"`
}

// RateLimitStatus is the caller's tightest request bucket as the limiter
// evaluated this very request.
type RateLimitStatus struct {
	Policy    string `json:"policy" doc:"the RateLimit-Policy header"`
	Limit     int    `json:"limit"`
	Remaining int    `json:"remaining"`
	Reset     int    `json:"reset" doc:"seconds until the bucket is full"`
}

// LimitsResponse is the body of GET /api/limits.
type LimitsResponse struct {
	RateLimit     *RateLimitStatus `json:"rate_limit"`
	Budgets       []BudgetStatus   `json:"budgets"`
	AllowedModels AllowedModels    `json:"allowed_models"`
	MaxParallel   MaxParallel      `json:"max_parallel"`
}

// AllowedModels are the caller's model lists (null: no restriction).
type AllowedModels struct {
	Key  []string `json:"key"`
	User []string `json:"user"`
}

// MaxParallel are the caller's concurrency caps (null: none).
type MaxParallel struct {
	Key  *int `json:"key"`
	User *int `json:"user"`
}

func (in BudgetRequest) budget() gateway.Budget {
	return gateway.Budget{SubjectType: gateway.BudgetSubjectType(in.SubjectType), Subject: in.Subject,
		Period: gateway.BudgetPeriod(in.Period), MaxTokens: in.MaxTokens, MaxCost: in.MaxCost, AlertPercent: in.AlertPercent}
}

func (s *Server) budgetRoutes() {
	bm := s.opt.Budgets
	if bm == nil {
		return
	}
	admin := Requires(gateway.RoleAdmin)
	tags := []string{"budgets", "admin"}
	idParam := []Param{{Name: "id", In: "path", Description: "budget id"}}
	s.Handle(Route{Method: "GET", Path: "/api/admin/budgets", Access: admin, OperationID: "listBudgets", Tags: tags,
		Summary: "List budgets", Response: BudgetList{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			all, err := bm.List(r.Context())
			if err != nil {
				return err
			}
			out := BudgetList{Data: make([]BudgetResponse, 0, len(all))}
			for _, b := range all {
				out.Data = append(out.Data, budgetResponse(b))
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
	s.Handle(Route{Method: "POST", Path: "/api/admin/budgets", Access: admin, OperationID: "createBudget", Tags: tags,
		Summary: "Create a budget", Request: BudgetRequest{}, Response: BudgetResponse{}, Status: http.StatusCreated,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in BudgetRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			b := in.budget()
			if err := bm.Create(r.Context(), &b); err != nil {
				return err
			}
			return WriteJSON(w, http.StatusCreated, budgetResponse(b))
		}})
	s.Handle(Route{Method: "PUT", Path: "/api/admin/budgets/{id}", Access: admin, OperationID: "updateBudget", Tags: tags,
		Summary: "Replace a budget", Request: BudgetRequest{}, Response: BudgetResponse{}, Params: idParam,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			var in BudgetRequest
			if err := DecodeJSON(r, &in, false); err != nil {
				return err
			}
			b := in.budget()
			b.ID = r.PathValue("id")
			if err := bm.Update(r.Context(), &b); err != nil {
				return err
			}
			return WriteJSON(w, http.StatusOK, budgetResponse(b))
		}})
	s.Handle(Route{Method: "DELETE", Path: "/api/admin/budgets/{id}", Access: admin, OperationID: "deleteBudget", Tags: tags,
		Summary: "Delete a budget and its counters", Status: http.StatusNoContent, Params: idParam,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			if err := bm.Delete(r.Context(), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}})

	if km := s.opt.Keys; km != nil {
		contributor := Requires(gateway.RoleContributor)
		keyTags := []string{"keys", "budgets"}
		keyParam := []Param{{Name: "id", In: "path", Description: "key id"}}
		s.Handle(Route{Method: "PUT", Path: "/api/keys/{id}/budget", Access: contributor, Binding: UserBound, OperationID: "putKeyBudget", Tags: keyTags,
			Summary: "Set the budget of one of the caller's keys (replaces its budgets)", Request: KeyBudgetRequest{}, Response: BudgetResponse{}, Params: keyParam,
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				k, err := km.Key(r.Context(), r.PathValue("id"), keyOwner(r).UserID)
				if err != nil {
					return err
				}
				var in KeyBudgetRequest
				if err := DecodeJSON(r, &in, false); err != nil {
					return err
				}
				b := BudgetRequest{SubjectType: string(gateway.BudgetKey), Subject: k.ID, Period: in.Period,
					MaxTokens: in.MaxTokens, MaxCost: in.MaxCost, AlertPercent: in.AlertPercent}.budget()
				if err := bm.PutSubject(r.Context(), &b); err != nil {
					return err
				}
				return WriteJSON(w, http.StatusOK, budgetResponse(b))
			}})
		s.Handle(Route{Method: "DELETE", Path: "/api/keys/{id}/budget", Access: contributor, Binding: UserBound, OperationID: "deleteKeyBudget", Tags: keyTags,
			Summary: "Remove the budget of one of the caller's keys", Status: http.StatusNoContent, Params: keyParam,
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				k, err := km.Key(r.Context(), r.PathValue("id"), keyOwner(r).UserID)
				if err != nil {
					return err
				}
				if err := bm.DeleteSubject(r.Context(), gateway.BudgetKey, k.ID); err != nil {
					return err
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}})
	}

	s.Handle(Route{Method: "GET", Path: "/api/limits", Access: Requires(gateway.RoleViewer), AppCredentials: true,
		OperationID: "getLimits", Tags: []string{"budgets"}, Summary: "The caller's rate limit, budgets, allowed models and max_parallel",
		Response: LimitsResponse{},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			p := gateway.PrincipalFrom(r.Context())
			sts, err := bm.Statuses(r.Context(), p)
			if err != nil {
				return err
			}
			out := LimitsResponse{Budgets: make([]BudgetStatus, 0, len(sts)), RateLimit: rateLimitStatus(w.Header()),
				AllowedModels: AllowedModels{Key: p.KeyModels, User: p.UserModels}}
			if p.KeyMaxParallel > 0 {
				out.MaxParallel.Key = &p.KeyMaxParallel
			}
			if p.UserMaxParallel > 0 {
				out.MaxParallel.User = &p.UserMaxParallel
			}
			for _, st := range sts {
				c := st.Counter
				bs := BudgetStatus{BudgetResponse: budgetResponse(st.Budget), ResetsAt: st.ResetsAt,
					Spent:    Amount{Tokens: c.UsedTokens, Cost: c.UsedCost},
					Reserved: Amount{Tokens: c.ReservedTokens, Cost: c.ReservedCost}}
				if m := st.Budget.MaxTokens; m != nil {
					left := max(0, *m-c.UsedTokens-c.ReservedTokens)
					bs.Remaining.Tokens = &left
				}
				if m := st.Budget.MaxCost; m != nil {
					left := max(0, *m-c.UsedCost-c.ReservedCost)
					bs.Remaining.Cost = &left
				}
				out.Budgets = append(out.Budgets, bs)
			}
			return WriteJSON(w, http.StatusOK, out)
		}})
}

// rateLimitStatus reads the limiter's verdict on this request from the
// headers it set (nil when no limiter evaluated it).
func rateLimitStatus(h http.Header) *RateLimitStatus {
	if h.Get("X-RateLimit-Limit") == "" {
		return nil
	}
	atoi := func(name string) int { n, _ := strconv.Atoi(h.Get(name)); return n }
	return &RateLimitStatus{Policy: h.Get("RateLimit-Policy"), Limit: atoi("X-RateLimit-Limit"),
		Remaining: atoi("X-RateLimit-Remaining"), Reset: atoi("X-RateLimit-Reset")}
}
