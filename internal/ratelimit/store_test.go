package ratelimit

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// TestResolverReadsTheStore checks the Resolver against the real SQLite
// store: what the admin API will write is what the limiter enforces.
func TestResolverReadsTheStore(t *testing.T) {
	ctx := context.Background()
	st := sqltest.SQLite(t)
	r := NewResolver(ResolverOptions{Source: st, Default: gateway.RateLimitPolicy{RequestsPerMinute: 600, Burst: 100}})
	p := gateway.RateLimitPolicy{Name: "app", RequestsPerMinute: 60, Burst: 5}
	if err := st.CreateRateLimitPolicy(ctx, &p); err != nil {
		t.Fatal(err)
	}
	a := gateway.RateLimitAssignment{PolicyID: p.ID, SubjectType: gateway.SubjectKey, Subject: "k1"}
	if err := st.CreateRateLimitAssignment(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	key := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k1", UserID: "u"}
	if got := r.Policies().For(key); got.Name != "app" || got.Burst != 5 {
		t.Fatalf("For(k1) = %+v, want app", got)
	}
	if err := st.DeleteRateLimitPolicy(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Policies().For(key).Name; got != "default" {
		t.Fatalf("after delete: For(k1) = %q, want default", got)
	}
}
