package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/internal/sqlstore"
)

// pendingGracePostgres is how old a pending assistant message must be
// before the start-up sweep of an instance sharing PostgreSQL marks it
// incomplete: younger ones may belong to another instance's live answer.
const pendingGracePostgres = time.Hour

// sweepPendingMessages marks assistant messages left pending by a crash as
// incomplete. On SQLite one process owns the file, so every message
// pending at start-up is left over.
func sweepPendingMessages(ctx context.Context, st *sqlstore.Store, log *slog.Logger) error {
	before := time.Now()
	if st.Engine() == "postgres" {
		before = before.Add(-pendingGracePostgres)
	}
	n, err := st.SweepPendingMessages(ctx, before)
	if err != nil {
		return fmt.Errorf("sweep pending messages: %w", err)
	}
	if n > 0 {
		log.WarnContext(ctx, "marked assistant messages left pending as incomplete", "count", n)
	}
	return nil
}
