package ratelimit

import (
	"github.com/tollgate/tollgate/internal/gateway"
)

// Policies is an immutable snapshot of the policies in force: the default
// and the assignments by subject type.
type Policies struct {
	def   gateway.RateLimitPolicy
	key   map[string]*gateway.RateLimitPolicy
	user  map[string]*gateway.RateLimitPolicy
	role  map[string]*gateway.RateLimitPolicy
	route map[string]*gateway.RateLimitPolicy
}

// NewPolicies builds a snapshot. Assignments that name a policy not in
// policies are ignored (the store's cascade makes them rare).
func NewPolicies(def gateway.RateLimitPolicy, policies []gateway.RateLimitPolicy, assignments []gateway.RateLimitAssignment) *Policies {
	if def.Name == "" {
		def.Name = "default"
	}
	byID := make(map[string]*gateway.RateLimitPolicy, len(policies))
	for i := range policies {
		byID[policies[i].ID] = &policies[i]
	}
	ps := &Policies{
		def:   def,
		key:   map[string]*gateway.RateLimitPolicy{},
		user:  map[string]*gateway.RateLimitPolicy{},
		role:  map[string]*gateway.RateLimitPolicy{},
		route: map[string]*gateway.RateLimitPolicy{},
	}
	for _, a := range assignments {
		p := byID[a.PolicyID]
		if p == nil {
			continue
		}
		switch a.SubjectType {
		case gateway.SubjectKey:
			ps.key[a.Subject] = p
		case gateway.SubjectUser:
			ps.user[a.Subject] = p
		case gateway.SubjectRole:
			ps.role[a.Subject] = p
		case gateway.SubjectRoute:
			ps.route[a.Subject] = p
		}
	}
	return ps
}

// Default returns the default policy.
func (ps *Policies) Default() gateway.RateLimitPolicy { return ps.def }

// For returns the policy of a principal's subject bucket: the policy
// assigned to its key (an API key id, or "static:<name>" for a static
// token), else to its user, else to its role, else the default. A nil
// principal (an anonymous request, limited by IP) gets the default.
func (ps *Policies) For(p *gateway.Principal) gateway.RateLimitPolicy {
	if p == nil {
		return ps.def
	}
	if p.KeyID != "" {
		if pol := ps.key[p.KeyID]; pol != nil {
			return *pol
		}
	}
	if p.Kind == gateway.PrincipalStatic && p.StaticName != "" {
		if pol := ps.key["static:"+p.StaticName]; pol != nil {
			return *pol
		}
	}
	return ps.ForUser(p.UserID, p.Role)
}

// ForUser returns the policy of a user's user:<id> bucket: the policy
// assigned to the user, else to role, else the default. It is what For
// answers for the user's own login, and what every key of the user shares
// as its owner's bucket.
func (ps *Policies) ForUser(userID string, role gateway.Role) gateway.RateLimitPolicy {
	if userID != "" {
		if pol := ps.user[userID]; pol != nil {
			return *pol
		}
	}
	if role != gateway.RoleNone {
		if pol := ps.role[role.String()]; pol != nil {
			return *pol
		}
	}
	return ps.def
}

// Route returns the policy assigned to a route pattern (as the ServeMux
// reports it in http.Request.Pattern, e.g. "POST /v1/chat/completions").
func (ps *Policies) Route(pattern string) (gateway.RateLimitPolicy, bool) {
	if pattern == "" {
		return gateway.RateLimitPolicy{}, false
	}
	pol := ps.route[pattern]
	if pol == nil {
		return gateway.RateLimitPolicy{}, false
	}
	return *pol, true
}
