package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// testResponseIDs: a Responses API id's record reads back exactly; the
// first creator keeps it; delete forgets it; prune deletes only what is
// older than its cut-off.
func testResponseIDs(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	alice := gateway.ResponseID{ID: "resp_a", Owner: gateway.Owner{UserID: "alice", EndUserID: "eu-1"}, Model: "gpt", CreatedAt: t0}
	if err := st.PutResponseID(ctx, alice); err != nil {
		t.Fatal(err)
	}
	got, err := st.ResponseID(ctx, "resp_a")
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(t0) || got.ID != "resp_a" || got.Owner != alice.Owner || got.Model != "gpt" {
		t.Fatalf("ResponseID = %+v, want %+v", got, alice)
	}
	// A second put of the same id (another creator) changes nothing.
	if err := st.PutResponseID(ctx, gateway.ResponseID{ID: "resp_a", Owner: gateway.Owner{UserID: "bob"}, Model: "other", CreatedAt: t0}); err != nil {
		t.Fatalf("second put = %v, want nil", err)
	}
	if got, _ := st.ResponseID(ctx, "resp_a"); got.Owner.UserID != "alice" || got.Model != "gpt" {
		t.Fatalf("after second put = %+v, want alice's", got)
	}
	if _, err := st.ResponseID(ctx, "resp_missing"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("missing id = %v, want ErrNotFound", err)
	}
	if err := st.DeleteResponseID(ctx, "resp_a"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ResponseID(ctx, "resp_a"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("deleted id = %v, want ErrNotFound", err)
	}
	if err := st.DeleteResponseID(ctx, "resp_a"); err != nil {
		t.Fatalf("second delete = %v, want nil", err)
	}

	for id, at := range map[string]time.Time{"old1": t0.Add(-31 * 24 * time.Hour), "old2": t0.Add(-30*24*time.Hour - time.Second), "new": t0.Add(-29 * 24 * time.Hour)} {
		if err := st.PutResponseID(ctx, gateway.ResponseID{ID: id, Owner: gateway.Owner{UserID: "alice"}, Model: "gpt", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.PruneResponseIDs(ctx, t0.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	for id, want := range map[string]bool{"old1": false, "old2": false, "new": true} {
		_, err := st.ResponseID(ctx, id)
		if (err == nil) != want {
			t.Fatalf("%s after prune: err = %v, want kept = %v", id, err, want)
		}
	}
}
