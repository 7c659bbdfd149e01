package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// TestSQLiteWriterHandOff: on SQLite a write transaction waits for the
// one in progress in this process (handed over in Go, not slept on in
// SQLite's busy handler), bounded by its context; once the first ends,
// the next runs.
func TestSQLiteWriterHandOff(t *testing.T) {
	st := sqltest.SQLite(t)
	ctx := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- st.InTx(ctx, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := st.InTx(short, func(context.Context) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second transaction while the first holds the writer = %v, want its context's deadline", err)
	}
	second := make(chan error, 1)
	go func() { second <- st.InTx(ctx, func(context.Context) error { return nil }) }()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second transaction after the first ended = %v", err)
	}
}
