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
		out, err := st.SettleBudgets(ctx, "r1", ch(20, 100))
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
		if _, err := st.SettleBudgets(ctx, "r4", ch(7, 3)); err != nil {
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
