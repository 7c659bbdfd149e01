package redis

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// budgetServices returns n budget services sharing one database (each
// engine) and one Redis prefix, as n instances would, with a clock.
func budgetServices(t *testing.T, st *sqlstore.Store, n int, now func() time.Time) ([]*budget.Service, string) {
	t.Helper()
	prefix := uniquePrefix(t)
	out := make([]*budget.Service, n)
	for i := range out {
		counters := NewBudgetCounters(testClient(t, ""), prefix, st.BudgetCounter)
		out[i] = budget.New(budget.Options{Store: st, Counters: counters, Now: now, ReservationTTL: time.Minute,
			Log: slog.New(slog.DiscardHandler)})
	}
	return out, prefix
}

func engines(t *testing.T) map[string]func(t *testing.T) *sqlstore.Store {
	return map[string]func(t *testing.T) *sqlstore.Store{
		"SQLite":   func(t *testing.T) *sqlstore.Store { return sqltest.SQLite(t) },
		"Postgres": func(t *testing.T) *sqlstore.Store { return sqltest.Postgres(t) },
	}
}

func i64(v int64) *int64 { return &v }

// admitParallel sends n admissions of tokens each, spread over svcs, and
// returns the settles of the admitted ones and the refusal codes counted.
func admitParallel(t *testing.T, svcs []*budget.Service, p *gateway.Principal, n int, tokens int64) ([]*gateway.Admission, map[string]int) {
	t.Helper()
	var mu sync.Mutex
	var settles []*gateway.Admission
	codes := map[string]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			settle, err := svcs[i%len(svcs)].Admit(context.Background(), p, tokens, 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ge, _ := gateway.AsError(err)
				codes[ge.Code]++
				return
			}
			codes["admitted"]++
			settles = append(settles, settle)
		})
	}
	wg.Wait()
	return settles, codes
}

// TestRedisBudgetExactUnderConcurrency: 200 parallel admissions against a
// budget that fits exactly 10 admit 10, on one instance and split over
// two sharing the database and Redis; the settled use reaches the
// database.
func TestRedisBudgetExactUnderConcurrency(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) }
	for name, open := range engines(t) {
		for _, instances := range []int{1, 2} {
			t.Run(name+"/"+[]string{"", "OneInstance", "TwoInstances"}[instances], func(t *testing.T) {
				st := open(t)
				svcs, _ := budgetServices(t, st, instances, now)
				b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodDay, MaxTokens: i64(100)}
				if err := svcs[0].Create(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				for _, s := range svcs[1:] {
					if err := s.Reload(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				p := &gateway.Principal{KeyID: "k1", Role: gateway.RoleContributor}
				settles, codes := admitParallel(t, svcs, p, 200, 10)
				if codes["admitted"] != 10 || codes["quota_exceeded"] != 190 {
					t.Fatalf("outcomes = %v, want 10 admitted, 190 quota_exceeded", codes)
				}
				for _, s := range settles {
					s.Settle(context.Background(), 7, 0)
				}
				start, _ := gateway.PeriodDay.Bounds(now())
				c, err := st.BudgetCounter(context.Background(), b.ID, start)
				if err != nil {
					t.Fatal(err)
				}
				if c.UsedTokens != 70 {
					t.Fatalf("database used_tokens = %d, want 70", c.UsedTokens)
				}
				// 30 tokens left: exactly 3 more of 10.
				_, codes = admitParallel(t, svcs, p, 20, 10)
				if codes["admitted"] != 3 {
					t.Fatalf("after settling: outcomes = %v, want 3 admitted", codes)
				}
				noFallbacks(t, svcs)
			})
		}
	}
}

// TestRedisBudgetRebuiltAfterFlush: after Redis loses every counter (its
// keys deleted, as a restart without persistence or a FLUSHALL would; the
// test Redis is shared with parallel tests, so only this test's keys go),
// the counters are rebuilt from the database's settled totals and
// admission stays exact.
func TestRedisBudgetRebuiltAfterFlush(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) }
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			svcs, prefix := budgetServices(t, st, 2, now)
			b := &gateway.Budget{SubjectType: gateway.BudgetUser, Subject: "u1", Period: gateway.PeriodTotal, MaxTokens: i64(100)}
			if err := svcs[0].Create(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if err := svcs[1].Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			p := &gateway.Principal{KeyID: "k1", UserID: "u1", Role: gateway.RoleContributor}
			settles, codes := admitParallel(t, svcs, p, 50, 10)
			if codes["admitted"] != 10 {
				t.Fatalf("outcomes = %v, want 10 admitted", codes)
			}
			for _, s := range settles[:6] {
				s.Settle(context.Background(), 10, 0) // 60 settled; 4 reservations stay open
			}
			flush(t, prefix)
			// Redis lost the 4 open reservations, not the 60 settled tokens.
			_, codes = admitParallel(t, svcs, p, 50, 10)
			if codes["admitted"] != 4 || codes["quota_exceeded"] != 46 {
				t.Fatalf("after the flush: outcomes = %v, want 4 admitted, 46 quota_exceeded", codes)
			}
			noFallbacks(t, svcs)
		})
	}
}

// TestRedisMaxParallelAcrossInstances: max_parallel 2 holds across two
// instances; a released slot admits again, and a slot of a request that
// never settles lapses at the reservation TTL.
func TestRedisMaxParallelAcrossInstances(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	svcs, _ := budgetServices(t, sqltest.SQLite(t), 2, now)
	p := &gateway.Principal{KeyID: "k1", UserID: "u1", KeyMaxParallel: 2, UserMaxParallel: 3, Role: gateway.RoleContributor}
	settles, codes := admitParallel(t, svcs, p, 40, 1)
	if codes["admitted"] != 2 || codes["rate_limit_exceeded"] != 38 {
		t.Fatalf("outcomes = %v, want 2 admitted, 38 rate_limit_exceeded", codes)
	}
	settles[0].Settle(context.Background(), 1, 0)
	if _, codes = admitParallel(t, svcs, p, 10, 1); codes["admitted"] != 1 {
		t.Fatalf("after one release: outcomes = %v, want 1 admitted", codes)
	}
	mu.Lock()
	at = at.Add(time.Minute + time.Second)
	mu.Unlock()
	if _, codes = admitParallel(t, svcs, p, 10, 1); codes["admitted"] != 2 {
		t.Fatalf("after the TTL: outcomes = %v, want 2 admitted", codes)
	}
	noFallbacks(t, svcs)
}

// TestRedisBudgetFallsBackToDatabase: with Redis unreachable, admission
// uses the database's guarded UPDATE and still refuses beyond the budget.
func TestRedisBudgetFallsBackToDatabase(t *testing.T) {
	st := sqltest.SQLite(t)
	c, err := NewClient("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	svc := budget.New(budget.Options{Store: st, Counters: NewBudgetCounters(c, "x:", st.BudgetCounter), Log: slog.New(slog.DiscardHandler)})
	b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodTotal, MaxTokens: i64(25)}
	if err := svc.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	p := &gateway.Principal{KeyID: "k1", Role: gateway.RoleContributor}
	if _, codes := admitParallel(t, []*budget.Service{svc}, p, 10, 10); codes["admitted"] != 2 || codes["quota_exceeded"] != 8 {
		t.Fatalf("outcomes = %v, want 2 admitted, 8 quota_exceeded", codes)
	}
	// Every one of the 10 admissions went to the database, and says so.
	if n := svc.SharedFallbacks(); n != 10 {
		t.Fatalf("SharedFallbacks = %d, want 10", n)
	}
}

// noFallbacks fails t when any of svcs admitted on the database instead
// of Redis: the Redis cases must prove the script path ran.
func noFallbacks(t *testing.T, svcs []*budget.Service) {
	t.Helper()
	for i, s := range svcs {
		if n := s.SharedFallbacks(); n != 0 {
			t.Fatalf("service %d: %d admissions fell back to the database", i, n)
		}
	}
}

// flush deletes every key under prefix.
func flush(t *testing.T, prefix string) {
	t.Helper()
	c := testClient(t, "")
	ctx := context.Background()
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no keys to flush: the counters are not in Redis")
	}
	if err := c.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
}
