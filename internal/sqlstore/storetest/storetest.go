// Package storetest is the conformance suite every engine of sqlstore must
// pass identically. Run it with Run(t, open) where open returns a fresh,
// migrated store.
package storetest

import (
	"testing"

	"github.com/tollgate/tollgate/internal/sqlstore"
)

// Opener returns a fresh migrated store for one subtest.
type Opener func(t *testing.T) *sqlstore.Store

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Opener) {
	for _, tc := range suites {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

type suite struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// suites is extended by one file per subject (settings.go, users.go, ...).
var suites = []suite{
	{"Migrations", testMigrations},
	{"Settings", testSettings},
	{"RateLimits", testRateLimits},
	{"Usage", testUsage},
	{"Users", testUsers},
	{"Conversations", testConversations},
	{"APIKeys", testAPIKeys},
	{"UserIdentities", testUserIdentities},
}
