package sqlstore

import "database/sql"

// Test hooks for the external test package (EXPLAIN of store queries).

// DB is the store's pool.
func (s *Store) DB() *sql.DB { return s.db }

// Rebind rewrites ? placeholders for the engine.
func (s *Store) Rebind(q string) string { return s.q(q) }

var (
	ListAPIKeysQuery = listAPIKeysQuery
	ListAPIKeysArgs  = listAPIKeysArgs
)
