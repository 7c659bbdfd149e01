package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tollgate/tollgate/internal/gateway"
)

var _ gateway.APIKeyStore = (*Store)(nil)

const apiKeyColumns = `id, name, prefix, owner_id, role, end_user_mode, key_hash, prev_hash, prev_valid_until, created_at, updated_at, expires_at, last_used_at, revoked_at, allowed_models, max_parallel`

func hashText(h [32]byte) string { return hex.EncodeToString(h[:]) }

func nullTimePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func scanAPIKey(sc scanner) (gateway.APIKey, error) {
	var (
		k                                   gateway.APIKey
		role, hash                          string
		prev                                sql.NullString
		prevUntil, expires, used, revokedAt sql.NullTime
		models                              string
	)
	err := sc.Scan(&k.ID, &k.Name, &k.Prefix, &k.OwnerID, &role, &k.EndUserMode, &hash, &prev, &prevUntil,
		&k.CreatedAt, &k.UpdatedAt, &expires, &used, &revokedAt, &models, &k.MaxParallel)
	if err != nil {
		return k, err
	}
	if k.AllowedModels, err = decodeModels(models); err != nil {
		return k, fmt.Errorf("api key %s: %w", k.ID, err)
	}
	if k.Role, err = gateway.ParseRole(role); err != nil {
		return k, err
	}
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != 32 {
		return k, fmt.Errorf("api key %s: malformed hash", k.ID)
	}
	copy(k.Hash[:], b)
	if prev.Valid {
		b, err := hex.DecodeString(prev.String)
		if err != nil || len(b) != 32 {
			return k, fmt.Errorf("api key %s: malformed previous hash", k.ID)
		}
		var ph [32]byte
		copy(ph[:], b)
		k.PrevHash = &ph
	}
	k.CreatedAt, k.UpdatedAt = k.CreatedAt.UTC(), k.UpdatedAt.UTC()
	k.PrevValidUntil, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = nullTimePtr(prevUntil), nullTimePtr(expires), nullTimePtr(used), nullTimePtr(revokedAt)
	return k, nil
}

func utcPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

// CreateAPIKey stores k, filling ID, CreatedAt and UpdatedAt;
// gateway.ErrConflict if the hash exists.
func (s *Store) CreateAPIKey(ctx context.Context, k *gateway.APIKey) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	if !k.Role.AtLeast(gateway.RoleViewer) {
		return fmt.Errorf("create api key: role %v is not a role", k.Role)
	}
	t := now()
	_, err = s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO api_keys (id, name, prefix, owner_id, role, end_user_mode, key_hash, created_at, updated_at, expires_at, allowed_models, max_parallel)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id.String(), k.Name, k.Prefix, k.OwnerID, k.Role.String(), k.EndUserMode, hashText(k.Hash), t, t, utcPtr(k.ExpiresAt),
		encodeModels(k.AllowedModels), k.MaxParallel)
	if err != nil {
		return s.mapErr("create api key", err)
	}
	k.ID, k.CreatedAt, k.UpdatedAt = id.String(), t, t
	if k.ExpiresAt != nil {
		e := k.ExpiresAt.UTC().Truncate(time.Microsecond)
		k.ExpiresAt = &e
	}
	return nil
}

// APIKey returns the key id, or gateway.ErrNotFound.
func (s *Store) APIKey(ctx context.Context, id string) (gateway.APIKey, error) {
	k, err := scanAPIKey(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`), id))
	return k, s.mapErr("get api key", err)
}

// APIKeyByHash returns the key whose current or previous secret hashes to
// h, or gateway.ErrNotFound.
func (s *Store) APIKeyByHash(ctx context.Context, h [32]byte) (gateway.APIKey, error) {
	ht := hashText(h)
	k, err := scanAPIKey(s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT `+apiKeyColumns+` FROM api_keys WHERE key_hash = ? OR prev_hash = ?`), ht, ht))
	return k, s.mapErr("get api key by hash", err)
}

func (s *Store) queryAPIKeys(ctx context.Context, op, query string, args ...any) ([]gateway.APIKey, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	keys := []gateway.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		keys = append(keys, k)
	}
	return keys, s.mapErr(op, rows.Err())
}

// keyOwnerFilter is " AND owner_id = ?" with its argument when ownerID is
// given, else nothing: a filter that tests the argument in SQL ("? is
// empty OR owner_id = ?") hides
// the owner from the planner, which then scans the table instead of using
// api_keys_owner.
func keyOwnerFilter(ownerID string) (string, []any) {
	if ownerID == "" {
		return "", nil
	}
	return " AND owner_id = ?", []any{ownerID}
}

// listAPIKeysQuery is ListAPIKeys' statement (also EXPLAINed by a test).
func listAPIKeysQuery(ownerID string) string {
	f, _ := keyOwnerFilter(ownerID)
	return `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE id > ?` + f + ` ORDER BY id LIMIT ?`
}

func listAPIKeysArgs(ownerID, cursor string, limit int) []any {
	_, fa := keyOwnerFilter(ownerID)
	return append(append([]any{cursor}, fa...), limit)
}

// ListAPIKeys returns up to limit keys of ownerID ("" for all) in creation
// order (UUIDv7 ids) after cursor, and the next page's cursor.
func (s *Store) ListAPIKeys(ctx context.Context, ownerID, cursor string, limit int) ([]gateway.APIKey, string, error) {
	if limit <= 0 {
		limit = 50
	}
	keys, err := s.queryAPIKeys(ctx, "list api keys", listAPIKeysQuery(ownerID), listAPIKeysArgs(ownerID, cursor, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = keys[limit-1].ID
	}
	return keys, next, nil
}

// RevokeAPIKey sets revoked_at on the key id of ownerID ("" for any
// owner), keeping an earlier revocation; gateway.ErrNotFound if there is
// no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id, ownerID string, at time.Time) (gateway.APIKey, error) {
	f, fa := keyOwnerFilter(ownerID)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = ?
		WHERE id = ?`+f), append([]any{at.UTC().Truncate(time.Microsecond), now(), id}, fa...)...)
	if err != nil {
		return gateway.APIKey{}, s.mapErr("revoke api key", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return gateway.APIKey{}, s.mapErr("revoke api key", sql.ErrNoRows)
	}
	s.changed(ctx, gateway.ChangeKey, id)
	return s.APIKey(ctx, id)
}

// RotateAPIKey gives the unrevoked key id of ownerID ("" for any owner) a
// new secret; the previous one stays valid until graceUntil (nil: it is
// invalid at once). gateway.ErrNotFound if there is no such key.
func (s *Store) RotateAPIKey(ctx context.Context, id, ownerID string, hash [32]byte, prefix string, graceUntil *time.Time) (gateway.APIKey, error) {
	f, fa := keyOwnerFilter(ownerID)
	q := `UPDATE api_keys SET prev_hash = NULL, prev_valid_until = NULL, key_hash = ?, prefix = ?, updated_at = ?
		WHERE id = ? AND revoked_at IS NULL` + f
	args := append([]any{hashText(hash), prefix, now(), id}, fa...)
	if graceUntil != nil {
		q = `UPDATE api_keys SET prev_hash = key_hash, prev_valid_until = ?, key_hash = ?, prefix = ?, updated_at = ?
		WHERE id = ? AND revoked_at IS NULL` + f
		args = append([]any{graceUntil.UTC().Truncate(time.Microsecond)}, args...)
	}
	res, err := s.conn(ctx).ExecContext(ctx, s.q(q), args...)
	if err != nil {
		return gateway.APIKey{}, s.mapErr("rotate api key", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return gateway.APIKey{}, s.mapErr("rotate api key", sql.ErrNoRows)
	}
	s.changed(ctx, gateway.ChangeKey, id)
	return s.APIKey(ctx, id)
}

// UpdateAPIKey applies p to the unrevoked key id of ownerID ("" for any
// owner) and bumps updated_at (so other instances' caches reload it);
// gateway.ErrNotFound if there is no such key.
func (s *Store) UpdateAPIKey(ctx context.Context, id, ownerID string, p gateway.APIKeyPatch) (gateway.APIKey, error) {
	set, args := []string{"updated_at = ?"}, []any{now()}
	if p.Name != nil {
		set, args = append(set, "name = ?"), append(args, *p.Name)
	}
	if p.AllowedModels != nil {
		set, args = append(set, "allowed_models = ?"), append(args, encodeModels(*p.AllowedModels))
	}
	if p.MaxParallel != nil {
		set, args = append(set, "max_parallel = ?"), append(args, *p.MaxParallel)
	}
	f, fa := keyOwnerFilter(ownerID)
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`UPDATE api_keys SET `+strings.Join(set, ", ")+`
		WHERE id = ? AND revoked_at IS NULL`+f), append(append(args, id), fa...)...)
	if err != nil {
		return gateway.APIKey{}, s.mapErr("update api key", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return gateway.APIKey{}, s.mapErr("update api key", sql.ErrNoRows)
	}
	s.changed(ctx, gateway.ChangeKey, id)
	return s.APIKey(ctx, id)
}

// encodeModels stores an allowed_models list as a JSON array ("" when
// empty).
func encodeModels(l gateway.ModelList) string {
	if len(l) == 0 {
		return ""
	}
	b, _ := json.Marshal([]string(l))
	return string(b)
}

func decodeModels(s string) (gateway.ModelList, error) {
	if s == "" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("malformed allowed_models: %w", err)
	}
	return l, nil
}

// APIKeysChangedSince returns the keys whose row changed (created,
// revoked, rotated) at or after t. Last-use updates do not count.
func (s *Store) APIKeysChangedSince(ctx context.Context, t time.Time) ([]gateway.APIKey, error) {
	return s.queryAPIKeys(ctx, "api keys changed since", `SELECT `+apiKeyColumns+` FROM api_keys WHERE updated_at >= ?`, t.UTC())
}

// sqliteTimeLayout is how the SQLite driver writes times
// (_time_format=sqlite), so times passed inside JSON compare as text with
// stored ones.
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// touchChunk is the most keys one TouchAPIKeys statement writes: a tick
// with more used keys takes one statement per touchChunk keys (SQLite
// spends some 60 µs a key on a shared CPU, so a chunk stays well inside
// database.query_timeout).
const touchChunk = 5000

// TouchAPIKeys records last use times with one statement per touchChunk
// keys (a JSON array on SQLite, two arrays on PostgreSQL), never moving
// last_used_at backwards.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	ids := make([]string, 0, len(used))
	for id := range used {
		ids = append(ids, id)
	}
	for len(ids) > 0 {
		n := min(len(ids), touchChunk)
		if err := s.touchAPIKeys(ctx, ids[:n], used); err != nil {
			return s.mapErr("touch api keys", err)
		}
		ids = ids[n:]
	}
	return nil
}

func (s *Store) touchAPIKeys(ctx context.Context, ids []string, used map[string]time.Time) error {
	if s.d.name == "postgres" {
		ats := make([]time.Time, len(ids))
		for i, id := range ids {
			ats[i] = used[id].UTC().Truncate(time.Microsecond)
		}
		_, err := s.db.ExecContext(ctx, `UPDATE api_keys AS k SET last_used_at = v.at
			FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at)
			WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)`, ids, ats)
		return err
	}
	pairs := make([][2]string, len(ids))
	for i, id := range ids {
		pairs[i] = [2]string{id, used[id].UTC().Truncate(time.Microsecond).Format(sqliteTimeLayout)}
	}
	b, _ := json.Marshal(pairs)
	_, err := s.db.ExecContext(ctx, `WITH v(id, at) AS (SELECT value ->> 0, value ->> 1 FROM json_each(?))
		UPDATE api_keys SET last_used_at = v.at FROM v
		WHERE api_keys.id = v.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.at)`, string(b))
	return err
}

// AnyAPIKeys reports whether a key exists, revoked ones included.
func (s *Store) AnyAPIKeys(ctx context.Context) (bool, error) {
	return s.exists(ctx, "any api keys", `SELECT EXISTS (SELECT 1 FROM api_keys)`)
}

// CountAPIKeys returns the number of keys, revoked ones included.
func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys`).Scan(&n)
	return n, s.mapErr("count api keys", err)
}
