package sqlstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// benchUsageRows is how many rows the "full" case preloads
// (TOLLGATE_BENCH_USAGE_ROWS, default 10^6).
func benchUsageRows() int {
	if n, err := strconv.Atoi(os.Getenv("TOLLGATE_BENCH_USAGE_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// benchRecords is n records of a realistic mix (1000 users, 3000 keys, 4
// models) arriving in time order from *at, step apart, with ids assigned
// as the usage writer does (time first).
func benchRecords(rng *rand.Rand, next *int, at *time.Time, step time.Duration, n int) []gateway.UsageRecord {
	out := make([]gateway.UsageRecord, n)
	for i := range out {
		*next++
		*at = at.Add(step)
		u := rng.IntN(1000)
		out[i] = gateway.UsageRecord{
			ID: fmt.Sprintf("%016x%016x", at.UnixNano(), rng.Uint64()), CreatedAt: *at,
			RequestID: fmt.Sprintf("req-%d", *next), UserID: fmt.Sprintf("user-%d", u), KeyID: fmt.Sprintf("key-%d-%d", u, rng.IntN(3)),
			Model: fmt.Sprintf("model-%d", rng.IntN(4)), ServedModel: "served", Provider: "p",
			PromptTokens: rng.Int64N(2000), CompletionTokens: rng.Int64N(800), Cost: gateway.Micros(rng.Int64N(50000)),
			Latency: time.Second, Status: gateway.UsageOK, HTTPStatus: 200,
		}
	}
	return out
}

// BenchmarkUsageInsert measures one 500-record InsertUsage (raw rows and
// the daily and hourly rollups, as the usage writer does) into an empty
// table and into one preloaded with benchUsageRows rows; compare the two
// ns/op of the same run for the growth ratio.
func BenchmarkUsageInsert(b *testing.B) {
	engines := map[string]func(testing.TB) *sqlstore.Store{"sqlite": sqltest.SQLite}
	if os.Getenv("TOLLGATE_TEST_POSTGRES_URL") != "" {
		engines["postgres"] = sqltest.Postgres
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		open := engines[engine]
		if open == nil {
			continue
		}
		for _, preload := range []int{0, benchUsageRows()} {
			b.Run(fmt.Sprintf("%s/rows=%d", engine, preload), func(b *testing.B) {
				ctx := context.Background()
				st := open(b)
				rng := rand.New(rand.NewPCG(1, 2))
				// The preload spreads over the 90 days before now; the
				// measured batches arrive now, 10 ms apart.
				at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(-90 * 24 * time.Hour)
				step := 90 * 24 * time.Hour / time.Duration(max(preload, 1))
				next := 0
				// The server's hourly job keeps usage_hourly to its last 7
				// days as the preload goes (it deletes one run late).
				// 2,000 records a transaction stay within the query
				// timeout on a loaded machine.
				for loaded := 0; loaded < preload; loaded += 2000 {
					if err := st.InsertUsage(ctx, benchRecords(rng, &next, &at, step, min(2000, preload-loaded))); err != nil {
						b.Fatal(err)
					}
					if _, err := st.PruneUsageHourly(ctx, at.Add(-sqlstore.UsageHourlyRetention)); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					batch := benchRecords(rng, &next, &at, 10*time.Millisecond, 500)
					b.StartTimer()
					if err := st.InsertUsage(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
