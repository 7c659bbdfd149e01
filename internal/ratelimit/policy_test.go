package ratelimit

import (
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testPolicies() *Policies {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 600, Burst: 100}
	ps := []gateway.RateLimitPolicy{
		{ID: "p-key", Name: "key", RequestsPerMinute: 1, Burst: 1},
		{ID: "p-user", Name: "user", RequestsPerMinute: 2, Burst: 2},
		{ID: "p-role", Name: "role", RequestsPerMinute: 3, Burst: 3},
		{ID: "p-static", Name: "static", RequestsPerMinute: 4, Burst: 4},
		{ID: "p-route", Name: "chat", RequestsPerMinute: 5, Burst: 5, TokensPerMinute: 100},
	}
	as := []gateway.RateLimitAssignment{
		{PolicyID: "p-key", SubjectType: gateway.SubjectKey, Subject: "k1"},
		{PolicyID: "p-user", SubjectType: gateway.SubjectUser, Subject: "u1"},
		{PolicyID: "p-role", SubjectType: gateway.SubjectRole, Subject: "viewer"},
		{PolicyID: "p-static", SubjectType: gateway.SubjectKey, Subject: "static:frontend"},
		{PolicyID: "p-route", SubjectType: gateway.SubjectRoute, Subject: "POST /v1/chat/completions"},
		{PolicyID: "p-gone", SubjectType: gateway.SubjectUser, Subject: "u2"},
	}
	return NewPolicies(def, ps, as)
}

func TestPolicyResolutionOrder(t *testing.T) {
	ps := testPolicies()
	tests := []struct {
		name string
		p    *gateway.Principal
		want string
	}{
		{"Anonymous", nil, "default"},
		{"KeyBeatsUserAndRole", &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k1", UserID: "u1", Role: gateway.RoleViewer}, "key"},
		{"UnassignedKeyFallsToOwner", &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k2", UserID: "u1", Role: gateway.RoleViewer}, "user"},
		{"UserBeatsRole", &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1", Role: gateway.RoleViewer}, "user"},
		{"RoleBeatsDefault", &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u3", Role: gateway.RoleViewer}, "role"},
		{"UnassignedRoleIsDefault", &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u3", Role: gateway.RoleAdmin}, "default"},
		{"AssignmentToMissingPolicyIgnored", &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u2", Role: gateway.RoleAdmin}, "default"},
		{"StaticTokenByKeyAssignment", &gateway.Principal{Kind: gateway.PrincipalStatic, StaticName: "frontend", Role: gateway.RoleViewer}, "static"},
		{"AppCredentialEndUserUsesKeyPolicy", &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k1", UserID: "u1", EndUserMode: true, EndUserID: "alice"}, "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ps.For(tc.p).Name; got != tc.want {
				t.Fatalf("For = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("Route", func(t *testing.T) {
		if p, ok := ps.Route("POST /v1/chat/completions"); !ok || p.Name != "chat" {
			t.Fatalf("Route(chat) = %+v, %v; want chat", p, ok)
		}
		if _, ok := ps.Route("GET /v1/models"); ok {
			t.Fatal("Route(models) found, want none")
		}
		if _, ok := ps.Route(""); ok {
			t.Fatal("Route(\"\") found, want none")
		}
	})
}
