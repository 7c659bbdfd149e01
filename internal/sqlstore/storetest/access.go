package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

// testModelAccess: allowed_models and max_parallel of keys and users are
// stored, patched field by field, and a patch marks the key changed.
func testModelAccess(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	u := newUser("carol@example.com", gateway.RoleContributor)
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	k := &gateway.APIKey{Name: "app", Prefix: "abcdefgh", OwnerID: u.ID, Role: gateway.RoleContributor,
		Hash: sha256.Sum256([]byte("k")), AllowedModels: gateway.ModelList{"gpt-4*", "llama"}, MaxParallel: 3}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := st.APIKey(ctx, k.ID)
	if err != nil || !cmp.Equal(got.AllowedModels, gateway.ModelList{"gpt-4*", "llama"}) || got.MaxParallel != 3 {
		t.Fatalf("APIKey = %+v, %v; want the models and max_parallel 3", got, err)
	}
	name, none, zero := "renamed", gateway.ModelList{}, 0
	before := got.UpdatedAt
	got, err = st.UpdateAPIKey(ctx, k.ID, u.ID, gateway.APIKeyPatch{Name: &name})
	if err != nil || got.Name != "renamed" || len(got.AllowedModels) != 2 || got.MaxParallel != 3 || got.UpdatedAt.Before(before) {
		t.Fatalf("UpdateAPIKey(name) = %+v, %v", got, err)
	}
	changed, err := st.APIKeysChangedSince(ctx, got.UpdatedAt)
	if err != nil || len(changed) != 1 || changed[0].Name != "renamed" {
		t.Fatalf("APIKeysChangedSince = %+v, %v; want the patched key", changed, err)
	}
	got, err = st.UpdateAPIKey(ctx, k.ID, "", gateway.APIKeyPatch{AllowedModels: &none, MaxParallel: &zero})
	if err != nil || got.AllowedModels != nil || got.MaxParallel != 0 || got.Name != "renamed" {
		t.Fatalf("UpdateAPIKey(clear) = %+v, %v", got, err)
	}
	if _, err := st.UpdateAPIKey(ctx, k.ID, "someone-else", gateway.APIKeyPatch{Name: &name}); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("UpdateAPIKey(other owner) err = %v, want ErrNotFound", err)
	}
	if _, err := st.UpdateAPIKey(ctx, "missing", "", gateway.APIKeyPatch{Name: &name}); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("UpdateAPIKey(missing) err = %v, want ErrNotFound", err)
	}

	models, two := gateway.ModelList{"echo"}, 2
	uu, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{AllowedModels: &models, MaxParallel: &two})
	if err != nil || !cmp.Equal(uu.AllowedModels, models) || uu.MaxParallel != 2 {
		t.Fatalf("UpdateUser = %+v, %v", uu, err)
	}
	uu, err = st.User(ctx, u.ID)
	if err != nil || !cmp.Equal(uu.AllowedModels, models) || uu.MaxParallel != 2 {
		t.Fatalf("User = %+v, %v; want the stored models and max_parallel", uu, err)
	}
}
