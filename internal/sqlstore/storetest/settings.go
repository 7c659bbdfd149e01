package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testSettings(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	t.Run("MissingIsNotFound", func(t *testing.T) {
		_, err := st.Setting(ctx, "nope")
		if !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("Setting(nope) err = %v, want ErrNotFound", err)
		}
	})
	t.Run("FirstWriterWins", func(t *testing.T) {
		var wg sync.WaitGroup
		got := make([]string, 8)
		errs := make([]error, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = st.SetSettingIfAbsent(ctx, "k", string(rune('a'+i)))
			}()
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("SetSettingIfAbsent #%d: %v", i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("instances disagree: %q vs %q", got[i], got[0])
			}
		}
		v, err := st.Setting(ctx, "k")
		if err != nil || v != got[0] {
			t.Fatalf("Setting(k) = %q, %v; want %q", v, err, got[0])
		}
	})
}
