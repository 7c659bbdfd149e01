package redis

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

type fixedPolicies struct{ ps *ratelimit.Policies }

func (f fixedPolicies) Policies() *ratelimit.Policies { return f.ps }

// TestOwnerBucketCapsKeysAcrossInstances: SPEC 5 with the Redis backend,
// two keys of one user, used through two instances, share the owner's
// user:<id> bucket: the user's policy (burst 5, one more per minute) caps
// their sum, and the user's own login is refused too.
func TestOwnerBucketCapsKeysAcrossInstances(t *testing.T) {
	prefix := uniquePrefix(t)
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 1, Burst: 5}
	pol := fixedPolicies{ratelimit.NewPolicies(def, nil, nil)}
	a := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{Limiter: NewLimiter(testClient(t, ""), prefix), Policies: pol})
	b := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{Limiter: NewLimiter(testClient(t, ""), prefix), Policies: pol})
	req := func(kind gateway.PrincipalKind, keyID string) ratelimit.Request {
		return ratelimit.Request{Principal: &gateway.Principal{Kind: kind, KeyID: keyID, UserID: "u1",
			Role: gateway.RoleContributor, OwnerRole: gateway.RoleContributor}}
	}
	ctx := context.Background()
	count := func(e *ratelimit.Enforcer, r ratelimit.Request, n int) int {
		ok := 0
		for range n {
			d, err := e.Check(ctx, r)
			if d == nil {
				t.Fatalf("Check: %v", err)
			}
			if err == nil {
				ok++
			} else if ge, _ := gateway.AsError(err); ge == nil || ge.Code != "rate_limit_exceeded" {
				t.Fatalf("Check err = %v, want rate_limit_exceeded", err)
			}
		}
		return ok
	}
	k1 := count(a, req(gateway.PrincipalKey, "k1"), 3)
	k2 := count(b, req(gateway.PrincipalKey, "k2"), 5)
	if k1 != 3 || k2 != 2 {
		t.Fatalf("admitted k1 %d, k2 %d; want 3 and 2 (the owner's burst of 5 caps the sum)", k1, k2)
	}
	if got := count(a, req(gateway.PrincipalUser, ""), 1); got != 0 {
		t.Fatalf("the user's own login admitted %d, want 0 (same bucket)", got)
	}
}
