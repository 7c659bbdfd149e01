package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func i64(v int64) *int64 { return &v }

func testBudgets(t *testing.T, open Opener) {
	ctx := context.Background()
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	exp := day.Add(time.Hour)
	t.Run("CRUD", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		cost := gateway.Micros(1_000_000)
		b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodDay, MaxCost: &cost, AlertPercent: 80}
		if err := st.CreateBudget(ctx, b); err != nil || b.ID == "" {
			t.Fatalf("CreateBudget = %v, id %q", err, b.ID)
		}
		dup := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodDay, MaxTokens: i64(5)}
		if err := st.CreateBudget(ctx, dup); !errors.Is(err, gateway.ErrConflict) {
			t.Fatalf("duplicate subject+period err = %v, want ErrConflict", err)
		}
		got, err := st.Budget(ctx, b.ID)
		if err != nil || got.MaxCost == nil || *got.MaxCost != cost || got.MaxTokens != nil || got.AlertPercent != 80 || got.Subject != "k1" {
			t.Fatalf("Budget = %+v, %v", got, err)
		}
		b.MaxTokens, b.MaxCost = i64(100), nil
		if err := st.UpdateBudget(ctx, b); err != nil || *b.MaxTokens != 100 || b.MaxCost != nil {
			t.Fatalf("UpdateBudget = %v, %+v", err, b)
		}
		w := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodWeek, MaxTokens: i64(5)}
		if err := st.CreateBudget(ctx, w); err != nil {
			t.Fatal(err)
		}
		list, err := st.ListBudgets(ctx)
		if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].ID != w.ID {
			t.Fatalf("ListBudgets = %+v, %v", list, err)
		}
		if err := st.DeleteBudget(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteBudget(ctx, b.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("second DeleteBudget err = %v, want ErrNotFound", err)
		}
		if _, err := st.Budget(ctx, b.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("deleted Budget err = %v", err)
		}
		if n, err := st.DeleteSubjectBudgets(ctx, gateway.BudgetKey, "k1"); err != nil || n != 1 {
			t.Fatalf("DeleteSubjectBudgets = %d, %v; want 1", n, err)
		}
		if err := st.UpdateBudget(ctx, w); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("UpdateBudget(deleted) err = %v", err)
		}
		// Replace: the subject's budgets (two periods) become the one given.
		for _, p := range []gateway.BudgetPeriod{gateway.PeriodDay, gateway.PeriodMonth} {
			if err := st.CreateBudget(ctx, &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k2", Period: p, MaxTokens: i64(1)}); err != nil {
				t.Fatal(err)
			}
		}
		r := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k2", Period: gateway.PeriodWeek, MaxTokens: i64(9)}
		if err := st.ReplaceSubjectBudgets(ctx, r); err != nil || r.ID == "" {
			t.Fatalf("ReplaceSubjectBudgets = %v", err)
		}
		list, err = st.ListBudgets(ctx)
		if err != nil || len(list) != 1 || list[0].ID != r.ID || list[0].Period != gateway.PeriodWeek {
			t.Fatalf("after replace = %+v, %v; want only the new budget", list, err)
		}
		r2 := &gateway.Budget{SubjectType: gateway.BudgetUser, Subject: "fresh", Period: gateway.PeriodDay, MaxTokens: i64(1)}
		if err := st.ReplaceSubjectBudgets(ctx, r2); err != nil {
			t.Fatalf("ReplaceSubjectBudgets without earlier budgets = %v", err)
		}
	})
	t.Run("ReserveSettleExpire", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		cost := gateway.Micros(1000)
		a := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k", Period: gateway.PeriodDay, MaxTokens: i64(100)}
		b := &gateway.Budget{SubjectType: gateway.BudgetUser, Subject: "u", Period: gateway.PeriodDay, MaxCost: &cost}
		for _, x := range []*gateway.Budget{a, b} {
			if err := st.CreateBudget(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		ch := func(tok int64, c gateway.Micros) []gateway.BudgetCharge {
			return []gateway.BudgetCharge{{Budget: *a, PeriodStart: day, Tokens: tok, Cost: c}, {Budget: *b, PeriodStart: day, Tokens: tok, Cost: c}}
		}
		// use settles reservation id (which reserved on both budgets) with
		// tokens and cost.
		use := func(id string, tok int64, c gateway.Micros) []gateway.SettledUse {
			return []gateway.SettledUse{{Tokens: tok, Cost: c, Settlement: &gateway.BudgetSettlement{ReservationID: id,
				Reserved: []gateway.ReservedCharge{{BudgetID: a.ID, PeriodStart: day}, {BudgetID: b.ID, PeriodStart: day}}}}}
		}
		counter := func(id string) gateway.BudgetCounter {
			t.Helper()
			c, err := st.BudgetCounter(ctx, id, day)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if refused, err := st.ReserveBudgets(ctx, "r1", ch(60, 500), exp); err != nil || refused != "" {
			t.Fatalf("reserve r1 = %q, %v", refused, err)
		}
		// a has 40 tokens left: refused, and b keeps nothing of it.
		if refused, err := st.ReserveBudgets(ctx, "r2", ch(41, 10), exp); err != nil || refused != a.ID {
			t.Fatalf("reserve r2 = %q, %v; want refused by %s", refused, err, a.ID)
		}
		if c := counter(b.ID); c.ReservedCost != 500 || c.ReservedTokens != 60 {
			t.Fatalf("b after refusal = %+v, want only r1 reserved", c)
		}
		// b has 500 cost left: refused.
		if refused, _ := st.ReserveBudgets(ctx, "r3", ch(1, 501), exp); refused != b.ID {
			t.Fatalf("reserve r3 refused = %q, want %s", refused, b.ID)
		}
		if refused, _ := st.ReserveBudgets(ctx, "r4", ch(40, 500), exp.Add(time.Hour)); refused != "" {
			t.Fatalf("reserve r4 (exact fit) refused by %q", refused)
		}
		// Settling r1 with less than reserved frees the difference.
		out, err := st.SettleBudgets(ctx, use("r1", 20, 100))
		if err != nil || len(out) != 2 {
			t.Fatalf("settle r1 = %+v, %v", out, err)
		}
		if c := counter(a.ID); c != (gateway.BudgetCounter{BudgetID: a.ID, PeriodStart: day, UsedTokens: 20, UsedCost: 100, ReservedTokens: 40, ReservedCost: 500}) {
			t.Fatalf("a after settle = %+v", c)
		}
		// r4 expires (it never settles): its reservation is released.
		if n, err := st.ExpireBudgetReservations(ctx, exp.Add(2*time.Hour)); err != nil || n != 2 {
			t.Fatalf("expire = %d, %v; want 2 rows (r4 on both budgets)", n, err)
		}
		if c := counter(a.ID); c.ReservedTokens != 0 || c.UsedTokens != 20 {
			t.Fatalf("a after expiry = %+v", c)
		}
		// A late settlement of r4 still charges its real use, once.
		if _, err := st.SettleBudgets(ctx, use("r4", 7, 3)); err != nil {
			t.Fatal(err)
		}
		if c := counter(a.ID); c.ReservedTokens != 0 || c.UsedTokens != 27 || c.UsedCost != 103 {
			t.Fatalf("a after late settle = %+v", c)
		}
		if n, _ := st.ExpireBudgetReservations(ctx, exp.Add(48*time.Hour)); n != 0 {
			t.Fatalf("second expire = %d, want 0", n)
		}
		// The next day is a new period.
		next := []gateway.BudgetCharge{{Budget: *a, PeriodStart: day.AddDate(0, 0, 1), Tokens: 100}}
		if refused, _ := st.ReserveBudgets(ctx, "r5", next, exp); refused != "" {
			t.Fatalf("next day refused by %q", refused)
		}
	})
	t.Run("SettledWithUsage", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		a := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k", Period: gateway.PeriodDay, MaxTokens: i64(100)}
		if err := st.CreateBudget(ctx, a); err != nil {
			t.Fatal(err)
		}
		reserve := func(id string, tok int64) *gateway.BudgetSettlement {
			t.Helper()
			if refused, err := st.ReserveBudgets(ctx, id, []gateway.BudgetCharge{{Budget: *a, PeriodStart: day, Tokens: tok}}, exp); err != nil || refused != "" {
				t.Fatalf("reserve %s = %q, %v", id, refused, err)
			}
			return &gateway.BudgetSettlement{ReservationID: id, Reserved: []gateway.ReservedCharge{{BudgetID: a.ID, PeriodStart: day, Tokens: tok}}}
		}
		rec := func(id string, pt, ct int64, st *gateway.BudgetSettlement) gateway.UsageRecord {
			return gateway.UsageRecord{ID: id, CreatedAt: day.Add(time.Hour), UserID: "u", KeyID: "k", Model: "m",
				PromptTokens: pt, CompletionTokens: ct, Cost: gateway.Micros(pt), Status: gateway.UsageOK, HTTPStatus: 200, Settlement: st}
		}
		want := func(step string, used, reserved int64) {
			t.Helper()
			c, err := st.BudgetCounter(ctx, a.ID, day)
			if err != nil {
				t.Fatal(err)
			}
			if c.UsedTokens != used || c.ReservedTokens != reserved {
				t.Fatalf("%s: used %d reserved %d, want %d and %d", step, c.UsedTokens, c.ReservedTokens, used, reserved)
			}
		}
		r1 := rec("u1", 10, 5, reserve("r1", 60))
		got, err := st.InsertUsageSettling(ctx, []gateway.UsageRecord{r1, rec("u2", 1, 1, nil)})
		if err != nil {
			t.Fatal(err)
		}
		wantCounter := gateway.BudgetCounter{BudgetID: a.ID, PeriodStart: day, UsedTokens: 15, UsedCost: 10}
		if len(got.Uses) != 1 || got.Uses[0].Tokens != 15 || got.Uses[0].Cost != 10 || got.Uses[0].Settlement.ReservationID != "r1" ||
			len(got.Counters) != 1 || got.Counters[0] != wantCounter {
			t.Fatalf("settled = %+v, want r1's 15 tokens and counter %+v", got, wantCounter)
		}
		want("after the first write", 15, 0)
		// A replay of the same record (a crash before the spool was
		// trimmed) inserts nothing and settles nothing.
		if got, err := st.InsertUsageSettling(ctx, []gateway.UsageRecord{r1}); err != nil || len(got.Uses) != 0 || len(got.Counters) != 0 {
			t.Fatalf("replay settled %+v, %v; want nothing", got, err)
		}
		want("after the replay", 15, 0)
		// One record twice in a batch settles once; two reservations in a
		// batch sum into one counter update.
		r3, r4 := rec("u3", 20, 0, reserve("r3", 30)), rec("u4", 2, 0, reserve("r4", 5))
		want("with r3 and r4 reserved", 15, 35)
		if got, err := st.InsertUsageSettling(ctx, []gateway.UsageRecord{r3, r3, r4}); err != nil || len(got.Uses) != 2 ||
			len(got.Counters) != 1 || got.Counters[0].UsedTokens != 37 {
			t.Fatalf("batch settled %+v, %v; want r3 and r4 once each, used 37", got, err)
		}
		want("after the batch", 37, 0)
		// A shared (Redis) settlement has no reservation row: only its use
		// is added.
		shared := &gateway.BudgetSettlement{ReservationID: "redis-1", Shared: true, Reserved: []gateway.ReservedCharge{{BudgetID: a.ID, PeriodStart: day, Tokens: 50}}}
		reserve("r5", 10)
		if _, err := st.InsertUsageSettling(ctx, []gateway.UsageRecord{rec("u5", 3, 0, shared)}); err != nil {
			t.Fatal(err)
		}
		want("after a shared settlement", 40, 10)
		// A budget deleted after a request matched it neither refuses the
		// reservation nor fails the usage write that settles it.
		g := &gateway.Budget{SubjectType: gateway.BudgetUser, Subject: "u", Period: gateway.PeriodDay, MaxTokens: i64(1)}
		if err := st.CreateBudget(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteBudget(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		both := []gateway.BudgetCharge{{Budget: *a, PeriodStart: day, Tokens: 5}, {Budget: *g, PeriodStart: day, Tokens: 5}}
		if refused, err := st.ReserveBudgets(ctx, "r6", both, exp); err != nil || refused != "" {
			t.Fatalf("reserve on a deleted budget = %q, %v; want admitted", refused, err)
		}
		gone := &gateway.BudgetSettlement{ReservationID: "r6", Reserved: []gateway.ReservedCharge{{BudgetID: a.ID, PeriodStart: day, Tokens: 5}, {BudgetID: g.ID, PeriodStart: day, Tokens: 5}}}
		got, err = st.InsertUsageSettling(ctx, []gateway.UsageRecord{rec("u6", 1, 0, gone)})
		if err != nil || len(got.Uses) != 1 || len(got.Counters) != 1 || got.Counters[0].BudgetID != a.ID {
			t.Fatalf("settling with a deleted budget = %+v, %v; want a's counter only", got, err)
		}
		want("after settling beside a deleted budget", 41, 10)
		// Usage rows and settlement commit together: every record is stored once.
		sum, err := st.UsageSummary(ctx, gateway.UsageQuery{From: day, To: day.AddDate(0, 0, 1), GroupBy: gateway.UsageByModel})
		if err != nil || len(sum) != 1 || sum[0].Requests != 6 {
			t.Fatalf("usage = %+v, %v; want 6 requests", sum, err)
		}
	})
	t.Run("AlertOncePerPeriod", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		b := &gateway.Budget{SubjectType: gateway.BudgetRole, Subject: "viewer", Period: gateway.PeriodMonth, MaxTokens: i64(1), AlertPercent: 50}
		if err := st.CreateBudget(ctx, b); err != nil {
			t.Fatal(err)
		}
		for i, want := range []bool{true, false} {
			if first, err := st.MarkBudgetAlerted(ctx, b.ID, day); err != nil || first != want {
				t.Fatalf("MarkBudgetAlerted #%d = %v, %v; want %v", i, first, err, want)
			}
		}
		if first, _ := st.MarkBudgetAlerted(ctx, b.ID, day.AddDate(0, 1, 0)); !first {
			t.Fatal("the next period alerts again")
		}
	})
	t.Run("ParallelReservationsNeverOvershoot", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k", Period: gateway.PeriodTotal, MaxTokens: i64(1000)}
		if err := st.CreateBudget(ctx, b); err != nil {
			t.Fatal(err)
		}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				refused, err := st.ReserveBudgets(ctx, fmt.Sprintf("p%d", i), []gateway.BudgetCharge{{Budget: *b, PeriodStart: gateway.TotalPeriodStart, Tokens: 100}}, exp)
				if err != nil {
					t.Errorf("reserve: %v", err)
				}
				if err == nil && refused == "" {
					admitted.Add(1)
				}
			}()
		}
		wg.Wait()
		if got := admitted.Load(); got != 10 {
			t.Fatalf("admitted = %d, want exactly 10", got)
		}
		if c, _ := st.BudgetCounter(ctx, b.ID, gateway.TotalPeriodStart); c.ReservedTokens != 1000 {
			t.Fatalf("reserved = %d, want 1000", c.ReservedTokens)
		}
	})
}
