package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testRateLimits(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)

	chat := gateway.RateLimitPolicy{Name: "chat", RequestsPerMinute: 10, Burst: 5, TokensPerMinute: 20000}
	app := gateway.RateLimitPolicy{Name: "app", RequestsPerMinute: 600, Burst: 100}
	for _, p := range []*gateway.RateLimitPolicy{&chat, &app} {
		if err := st.CreateRateLimitPolicy(ctx, p); err != nil {
			t.Fatalf("CreateRateLimitPolicy(%s): %v", p.Name, err)
		}
		if p.ID == "" || p.CreatedAt.IsZero() || !p.UpdatedAt.Equal(p.CreatedAt) {
			t.Fatalf("created policy = %+v, want ID and equal timestamps", p)
		}
	}

	t.Run("GetRoundTrips", func(t *testing.T) {
		got, err := st.RateLimitPolicy(ctx, chat.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "chat" || got.RequestsPerMinute != 10 || got.Burst != 5 || got.TokensPerMinute != 20000 || !got.CreatedAt.Equal(chat.CreatedAt) {
			t.Fatalf("RateLimitPolicy = %+v, want %+v", got, chat)
		}
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		if _, err := st.RateLimitPolicy(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("RateLimitPolicy(nope) err = %v, want ErrNotFound", err)
		}
		p := gateway.RateLimitPolicy{ID: "nope", Name: "x", RequestsPerMinute: 1, Burst: 1}
		if err := st.UpdateRateLimitPolicy(ctx, &p); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("UpdateRateLimitPolicy(nope) err = %v, want ErrNotFound", err)
		}
		if err := st.DeleteRateLimitPolicy(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("DeleteRateLimitPolicy(nope) err = %v, want ErrNotFound", err)
		}
		if err := st.DeleteRateLimitAssignment(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("DeleteRateLimitAssignment(nope) err = %v, want ErrNotFound", err)
		}
	})
	t.Run("DuplicateNameIsConflict", func(t *testing.T) {
		p := gateway.RateLimitPolicy{Name: "chat", RequestsPerMinute: 1, Burst: 1}
		if err := st.CreateRateLimitPolicy(ctx, &p); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("Create duplicate err = %v, want ErrConflict", err)
		}
		u := app
		u.Name = "chat"
		if err := st.UpdateRateLimitPolicy(ctx, &u); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("Update to duplicate name err = %v, want ErrConflict", err)
		}
	})
	t.Run("Update", func(t *testing.T) {
		u := app
		u.RequestsPerMinute, u.Burst, u.TokensPerMinute = 1200, 200, 5000
		if err := st.UpdateRateLimitPolicy(ctx, &u); err != nil {
			t.Fatal(err)
		}
		got, err := st.RateLimitPolicy(ctx, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestsPerMinute != 1200 || got.Burst != 200 || got.TokensPerMinute != 5000 || got.Name != "app" {
			t.Fatalf("after update = %+v", got)
		}
		if !got.CreatedAt.Equal(app.CreatedAt) || got.UpdatedAt.Before(got.CreatedAt) || !u.UpdatedAt.Equal(got.UpdatedAt) {
			t.Fatalf("timestamps after update: created %v updated %v (returned %v)", got.CreatedAt, got.UpdatedAt, u.UpdatedAt)
		}
	})
	t.Run("ListOrderedByName", func(t *testing.T) {
		ps, err := st.ListRateLimitPolicies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || ps[0].Name != "app" || ps[1].Name != "chat" {
			t.Fatalf("ListRateLimitPolicies = %+v, want app, chat", ps)
		}
	})

	var keyA, routeA gateway.RateLimitAssignment
	t.Run("Assignments", func(t *testing.T) {
		keyA = gateway.RateLimitAssignment{PolicyID: app.ID, SubjectType: gateway.SubjectKey, Subject: "key-1"}
		routeA = gateway.RateLimitAssignment{PolicyID: chat.ID, SubjectType: gateway.SubjectRoute, Subject: "POST /v1/chat/completions"}
		roleA := gateway.RateLimitAssignment{PolicyID: chat.ID, SubjectType: gateway.SubjectRole, Subject: "viewer"}
		for _, a := range []*gateway.RateLimitAssignment{&keyA, &routeA, &roleA} {
			if err := st.CreateRateLimitAssignment(ctx, a); err != nil {
				t.Fatalf("CreateRateLimitAssignment(%s %s): %v", a.SubjectType, a.Subject, err)
			}
			if a.ID == "" || a.CreatedAt.IsZero() {
				t.Fatalf("created assignment = %+v, want ID and CreatedAt", a)
			}
		}
		as, err := st.ListRateLimitAssignments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(as), 3; got != want {
			t.Fatalf("len(assignments) = %d, want %d", got, want)
		}
		// Ordered by subject type, then subject: key, role, route.
		if as[0].ID != keyA.ID || as[1].ID != roleA.ID || as[2].ID != routeA.ID {
			t.Fatalf("assignments order = %+v", as)
		}
		if as[2].PolicyID != chat.ID || as[2].Subject != "POST /v1/chat/completions" || as[2].SubjectType != "route" {
			t.Fatalf("route assignment = %+v", as[2])
		}
	})
	t.Run("AssignmentSubjectIsUnique", func(t *testing.T) {
		dup := gateway.RateLimitAssignment{PolicyID: chat.ID, SubjectType: gateway.SubjectKey, Subject: "key-1"}
		if err := st.CreateRateLimitAssignment(ctx, &dup); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("duplicate assignment err = %v, want ErrConflict", err)
		}
		// The same subject string under another type is a different subject.
		other := gateway.RateLimitAssignment{PolicyID: chat.ID, SubjectType: gateway.SubjectUser, Subject: "key-1"}
		if err := st.CreateRateLimitAssignment(ctx, &other); err != nil {
			t.Fatalf("user assignment with a key's subject string: %v", err)
		}
		if err := st.DeleteRateLimitAssignment(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AssignmentToMissingPolicyIsNotFound", func(t *testing.T) {
		a := gateway.RateLimitAssignment{PolicyID: "nope", SubjectType: gateway.SubjectUser, Subject: "u1"}
		if err := st.CreateRateLimitAssignment(ctx, &a); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("assignment to missing policy err = %v, want ErrNotFound", err)
		}
	})
	t.Run("DeletePolicyCascades", func(t *testing.T) {
		if err := st.DeleteRateLimitPolicy(ctx, chat.ID); err != nil {
			t.Fatal(err)
		}
		as, err := st.ListRateLimitAssignments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 1 || as[0].ID != keyA.ID {
			t.Fatalf("assignments after deleting chat = %+v, want only the key assignment", as)
		}
		if err := st.DeleteRateLimitAssignment(ctx, keyA.ID); err != nil {
			t.Fatal(err)
		}
		as, err = st.ListRateLimitAssignments(ctx)
		if err != nil || len(as) != 0 {
			t.Fatalf("assignments after deleting the last = %+v, %v; want none", as, err)
		}
	})
}
