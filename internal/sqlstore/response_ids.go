package sqlstore

import (
	"context"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// PutResponseID records the creator of a Responses API id (one INSERT);
// an id recorded before keeps its first creator.
func (s *Store) PutResponseID(ctx context.Context, r gateway.ResponseID) error {
	at := r.CreatedAt
	if at.IsZero() {
		at = now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO response_ids (id, user_id, end_user_id, model, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		r.ID, r.Owner.UserID, r.Owner.EndUserID, r.Model, at.UTC().Truncate(time.Microsecond))
	return s.mapErr("put response id", err)
}

// ResponseID returns the record of a Responses API id, or
// gateway.ErrNotFound.
func (s *Store) ResponseID(ctx context.Context, id string) (gateway.ResponseID, error) {
	r := gateway.ResponseID{ID: id}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT user_id, end_user_id, model, created_at FROM response_ids WHERE id = ?`), id).
		Scan(&r.Owner.UserID, &r.Owner.EndUserID, &r.Model, &r.CreatedAt)
	if err != nil {
		return gateway.ResponseID{}, s.mapErr("response id", err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// DeleteResponseID forgets a Responses API id.
func (s *Store) DeleteResponseID(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM response_ids WHERE id = ?`), id)
	return s.mapErr("delete response id", err)
}

// PruneResponseIDs deletes the records created before before, in chunks,
// and returns how many it deleted.
func (s *Store) PruneResponseIDs(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM response_ids WHERE id IN
			(SELECT id FROM response_ids WHERE created_at < ? ORDER BY created_at LIMIT ?)`), before.UTC(), pruneChunk)
		if err != nil {
			return total, s.mapErr("prune response ids", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.mapErr("prune response ids", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}
