package redis

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
)

// TestRedisSettledThroughUsageWriter: admitted requests' usage records
// carry their settlements; the usage writer's transaction settles them in
// the database and, after the commit, the shared counters get the real
// use in one pipelined call per batch (even when Redis has lost the
// script), so both instances see the freed room.
func TestRedisSettledThroughUsageWriter(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) }
	ctx := context.Background()
	for name, open := range engines(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			svcs, _ := budgetServices(t, st, 2, now)
			b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: gateway.PeriodDay, MaxTokens: i64(100)}
			if err := svcs[0].Create(ctx, b); err != nil {
				t.Fatal(err)
			}
			if err := svcs[1].Reload(ctx); err != nil {
				t.Fatal(err)
			}
			p := &gateway.Principal{KeyID: "k1", Role: gateway.RoleContributor}
			adms, codes := admitParallel(t, svcs, p, 50, 10)
			if codes["admitted"] != 10 {
				t.Fatalf("outcomes = %v, want 10 admitted", codes)
			}
			if err := testClient(t, "").ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, FlushInterval: time.Hour, OnSettled: svcs[0].Settled})
			for i, a := range adms {
				if a.Settlement == nil || !a.Settlement.Shared {
					t.Fatalf("admission %d settlement = %+v, want a shared one", i, a.Settlement)
				}
				w.Record(gateway.UsageRecord{CreatedAt: now(), KeyID: "k1", Model: "m", PromptTokens: 3, CompletionTokens: 4,
					Status: gateway.UsageOK, HTTPStatus: 200, Settlement: a.Settlement})
				a.End(ctx)
			}
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
			start, _ := gateway.PeriodDay.Bounds(now())
			if c, err := st.BudgetCounter(ctx, b.ID, start); err != nil || c.UsedTokens != 70 {
				t.Fatalf("database counter = %+v, %v; want 70 used", c, err)
			}
			// Redis holds 70 used and no reservation: 3 more of 10 fit.
			_, codes = admitParallel(t, svcs, p, 20, 10)
			if codes["admitted"] != 3 {
				t.Fatalf("after settling: outcomes = %v, want 3 admitted", codes)
			}
			noFallbacks(t, svcs)
		})
	}
}
