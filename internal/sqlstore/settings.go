package sqlstore

import (
	"context"
	"fmt"
)

// Setting returns the value stored under key, or gateway.ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE key = ?`), key).Scan(&v)
	return v, s.mapErr("get setting", err)
}

// SetSettingIfAbsent stores value under key unless the key exists, and
// returns the value that is stored afterwards: so of several instances that
// race to create the same setting, all end up with the first one's value.
// A key that exists is only read: an instance restarting on a database
// that refuses writes still gets its settings (a degraded start).
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	if v, err := s.Setting(ctx, key); err == nil {
		return v, nil
	}
	_, err := s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO settings (key, value, created_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`), key, value, now())
	if err != nil {
		return "", fmt.Errorf("set setting: %w", err)
	}
	return s.Setting(ctx, key)
}
