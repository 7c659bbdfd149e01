package gateway

import (
	"context"
	"time"
)

// ResponseID is a Responses API id answered through the gateway: who
// created it (Owner's UserID and EndUserID; AllEndUsers is not stored)
// and the configured model whose provider holds it.
type ResponseID struct {
	ID        string
	Owner     Owner
	Model     string
	CreatedAt time.Time
}

// ResponseIDStore persists the creators of Responses API ids, so that
// every instance, and the next start, scopes them alike.
type ResponseIDStore interface {
	// PutResponseID records r. An id recorded before keeps its first
	// creator (nil error).
	PutResponseID(ctx context.Context, r ResponseID) error
	// ResponseID returns the record of id, or ErrNotFound.
	ResponseID(ctx context.Context, id string) (ResponseID, error)
	// DeleteResponseID forgets id (nil error when it was not recorded).
	DeleteResponseID(ctx context.Context, id string) error
	// PruneResponseIDs deletes the records created before before and
	// returns how many.
	PruneResponseIDs(ctx context.Context, before time.Time) (int64, error)
}
