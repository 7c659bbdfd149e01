// Package storetest is the conformance suite of Tollgate's store
// interfaces (package gateway). It takes the interfaces, not a concrete
// store, so every engine of sqlstore and any cached or decorated store
// run through the same tests: Run(t, open) where open returns a fresh,
// empty store.
package storetest

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// SettingStore is the small key-value store of instance-wide settings
// (e.g. the shared JWT signing key).
type SettingStore interface {
	// Setting returns the value under key, or gateway.ErrNotFound.
	Setting(ctx context.Context, key string) (string, error)
	// SetSettingIfAbsent stores value unless key exists and returns the
	// stored value (the first writer's, under concurrency).
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)
}

// Stores is every store interface the suite checks.
type Stores interface {
	gateway.UserStore
	gateway.APIKeyStore
	gateway.ConversationStore
	gateway.RateLimitStore
	gateway.SettlingUsageStore
	gateway.UsagePruner
	gateway.SessionStore
	gateway.UserIdentityStore
	gateway.EventStore
	gateway.BudgetStore
	gateway.AuditStore
	gateway.LeaseStore
	gateway.ResponseIDStore
	SettingStore
}

// Opener returns a fresh, empty store for one subtest; it may run for
// several subtests in parallel.
type Opener func(t *testing.T) Stores

// Run runs every conformance test against stores from open. Subtests that
// open their own store run in parallel.
func Run(t *testing.T, open Opener) {
	for _, tc := range suites {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open)
		})
	}
}

type suite struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// suites is extended by one file per subject (settings.go, users.go, ...).
var suites = []suite{
	{"Settings", testSettings},
	{"RateLimits", testRateLimits},
	{"Usage", testUsage},
	{"UsageRollupProperty", testUsageRollupProperty},
	{"UsageRetention", testUsageRetention},
	{"Users", testUsers},
	{"Conversations", testConversations},
	{"Participants", testParticipants},
	{"Invites", testInvites},
	{"Shares", testShares},
	{"ReadMarkers", testReadMarkers},
	{"APIKeys", testAPIKeys},
	{"Sessions", testSessions},
	{"UserIdentities", testUserIdentities},
	{"Events", testEvents},
	{"ModelAccess", testModelAccess},
	{"Budgets", testBudgets},
	{"ResponseIDs", testResponseIDs},
	{"Audit", testAudit},
	{"Leases", testLeases},
}
