package budget_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// BenchmarkAdmit measures admission plus settlement of one request:
// without any budget (the in-memory index only: no database round trip),
// and against one key budget on SQLite (the guarded UPDATE transaction
// and the settlement transaction).
func BenchmarkAdmit(b *testing.B) {
	ctx := context.Background()
	p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", UserID: "u", Role: gateway.RoleContributor}
	b.Run("NoBudget", func(b *testing.B) {
		svc := budget.New(budget.Options{Store: sqltest.SQLite(b)})
		// A budget of another key is in the index; none matches p.
		other := int64(5)
		if err := svc.Create(ctx, &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "other", Period: gateway.PeriodDay, MaxTokens: &other}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			s, err := svc.Admit(ctx, p, 100, 10)
			if err != nil || s != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("KeyBudgetSQLite", func(b *testing.B) {
		svc := budget.New(budget.Options{Store: sqltest.SQLite(b), Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
		max := int64(1 << 62)
		if err := svc.Create(ctx, &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k", Period: gateway.PeriodDay, MaxTokens: &max}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			s, err := svc.Admit(ctx, p, 100, 10)
			if err != nil {
				b.Fatal(err)
			}
			s.Settle(ctx, 50, 5)
		}
	})
}
