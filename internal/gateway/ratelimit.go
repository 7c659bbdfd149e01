package gateway

import (
	"context"
	"strings"
	"time"
)

// RateLimitPolicy is a named rate limit (SPEC section 5): a GCRA bucket of
// RequestsPerMinute with Burst, and optionally a budget of TokensPerMinute
// charged with the tokens completions use (0 means no token budget).
type RateLimitPolicy struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	RequestsPerMinute int       `json:"requests_per_minute"`
	Burst             int       `json:"burst"`
	TokensPerMinute   int       `json:"tokens_per_minute"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Validate checks the policy's fields and returns an invalid_field or
// missing_field Error (KindInvalid) naming the offending body field.
func (p *RateLimitPolicy) Validate() error {
	switch {
	case strings.TrimSpace(p.Name) == "":
		return Invalid("missing_field", "body.name", "name is required")
	case !validPolicyName(p.Name):
		return Invalid("invalid_field", "body.name", "name must be 1 to 64 printable ASCII characters without quotes or backslashes")
	case p.RequestsPerMinute <= 0:
		return Invalid("invalid_field", "body.requests_per_minute", "requests_per_minute must be positive")
	case p.Burst <= 0:
		return Invalid("invalid_field", "body.burst", "burst must be positive")
	case p.TokensPerMinute < 0:
		return Invalid("invalid_field", "body.tokens_per_minute", "tokens_per_minute must not be negative")
	}
	return nil
}

// validPolicyName reports whether name can appear as a policy name in the
// RateLimit-Policy header (a structured-field string): 1 to 64 printable
// ASCII characters other than '"' and '\'.
func validPolicyName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// The subject types of a RateLimitAssignment.
const (
	SubjectKey   = "key"   // Subject is an API key id, or "static:<name>" for a static token
	SubjectUser  = "user"  // Subject is a user id
	SubjectRole  = "role"  // Subject is viewer, contributor or admin
	SubjectRoute = "route" // Subject is a route pattern, e.g. "POST /v1/chat/completions"
)

// RateLimitAssignment applies a policy to a key, user, role or route. There
// is at most one assignment per (SubjectType, Subject).
type RateLimitAssignment struct {
	ID          string    `json:"id"`
	PolicyID    string    `json:"policy_id"`
	SubjectType string    `json:"subject_type"`
	Subject     string    `json:"subject"`
	CreatedAt   time.Time `json:"created_at"`
}

// Validate checks the assignment's fields and returns a missing_field or
// invalid_field Error (KindInvalid) naming the offending body field.
func (a *RateLimitAssignment) Validate() error {
	if a.PolicyID == "" {
		return Invalid("missing_field", "body.policy_id", "policy_id is required")
	}
	switch a.SubjectType {
	case SubjectKey, SubjectUser, SubjectRole, SubjectRoute:
	case "":
		return Invalid("missing_field", "body.subject_type", "subject_type is required")
	default:
		return Invalid("invalid_field", "body.subject_type", "subject_type must be key, user, role or route")
	}
	if a.Subject == "" {
		return Invalid("missing_field", "body.subject", "subject is required")
	}
	if len(a.Subject) > 256 {
		return Invalid("invalid_field", "body.subject", "subject must be at most 256 characters")
	}
	if a.SubjectType == SubjectRole {
		if _, err := ParseRole(a.Subject); err != nil {
			return Invalid("invalid_field", "body.subject", "a role subject must be viewer, contributor or admin")
		}
	}
	return nil
}

// RateLimitStore persists rate-limit policies and their assignments.
//
// Deleting a policy deletes its assignments with it (the subjects fall back
// to the next less specific policy); SPEC section 1 has no 409 code for a
// policy in use, so a cascade is the contract-compatible choice.
type RateLimitStore interface {
	// CreateRateLimitPolicy stores p, filling ID, CreatedAt and UpdatedAt.
	// A duplicate name returns ErrConflict.
	CreateRateLimitPolicy(ctx context.Context, p *RateLimitPolicy) error
	// RateLimitPolicy returns the policy with id, or ErrNotFound.
	RateLimitPolicy(ctx context.Context, id string) (RateLimitPolicy, error)
	// UpdateRateLimitPolicy replaces the policy's name and limits, setting
	// UpdatedAt. ErrNotFound if it does not exist, ErrConflict on a duplicate
	// name.
	UpdateRateLimitPolicy(ctx context.Context, p *RateLimitPolicy) error
	// DeleteRateLimitPolicy deletes the policy and its assignments, or
	// returns ErrNotFound.
	DeleteRateLimitPolicy(ctx context.Context, id string) error
	// ListRateLimitPolicies returns every policy ordered by name.
	ListRateLimitPolicies(ctx context.Context) ([]RateLimitPolicy, error)

	// CreateRateLimitAssignment stores a, filling ID and CreatedAt.
	// ErrNotFound if the policy does not exist; ErrConflict if the subject
	// already has an assignment.
	CreateRateLimitAssignment(ctx context.Context, a *RateLimitAssignment) error
	// DeleteRateLimitAssignment deletes the assignment, or returns
	// ErrNotFound.
	DeleteRateLimitAssignment(ctx context.Context, id string) error
	// ListRateLimitAssignments returns every assignment ordered by subject
	// type, then subject.
	ListRateLimitAssignments(ctx context.Context) ([]RateLimitAssignment, error)
}
