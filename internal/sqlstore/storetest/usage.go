package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testUsage(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	day1 := time.Date(2025, 3, 1, 23, 59, 59, 999999000, time.UTC)
	day2 := time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)
	rec := func(at time.Time, user, key, endUser, model string, prompt, completion int64) gateway.UsageRecord {
		return gateway.UsageRecord{
			CreatedAt: at, RequestID: "req", UserID: user, KeyID: key, EndUserID: endUser,
			Model: model, ServedModel: model, Provider: "p", PromptTokens: prompt, CompletionTokens: completion,
			Cost:    gateway.Micros(prompt*100 + completion),
			Latency: 1500 * time.Millisecond, TTFT: 20 * time.Millisecond, Status: gateway.UsageOK, HTTPStatus: 200,
		}
	}
	withStatus := func(r gateway.UsageRecord, st gateway.UsageStatus, served string) gateway.UsageRecord {
		r.Status, r.ServedModel = st, served
		return r
	}
	records := []gateway.UsageRecord{
		rec(day1, "u1", "", "", "m1", 10, 1),
		rec(day1, "u1", "k1", "", "m2", 20, 2),
		rec(day2, "u1", "k1", "", "m1", 30, 3),
		withStatus(rec(day2, "u1", "k2", "alice", "m1", 40, 4), gateway.UsageIncomplete, "m1"),
		withStatus(rec(day2, "u1", "k2", "bob", "m1", 50, 5), gateway.UsageCanceled, "m1"),
		// A fallback: asked for m2, served by m1, and failed.
		withStatus(rec(day2.Add(time.Hour), "u2", "k3", "", "m2", 60, 6), gateway.UsageError, "m1"),
	}
	type sts = gateway.UsageStatuses
	if err := st.InsertUsage(ctx, records); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	all := gateway.UsageQuery{From: day1.Add(-time.Hour), To: day2.Add(24 * time.Hour)}
	summaryOf := func(t *testing.T, st gateway.UsageStore, q gateway.UsageQuery) []gateway.UsageGroup {
		t.Helper()
		got, err := st.UsageSummary(ctx, q)
		if err != nil {
			t.Fatalf("UsageSummary(%+v): %v", q, err)
		}
		return got
	}
	with := func(q gateway.UsageQuery, f func(*gateway.UsageQuery)) gateway.UsageQuery { f(&q); return q }

	tests := []struct {
		name string
		q    gateway.UsageQuery
		want []gateway.UsageGroup
	}{
		{"ByModel", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByModel }), []gateway.UsageGroup{
			{Group: "m1", Requests: 4, PromptTokens: 130, CompletionTokens: 13, Cost: 13013, Statuses: sts{OK: 2, Incomplete: 1, Canceled: 1}},
			{Group: "m2", Requests: 2, PromptTokens: 80, CompletionTokens: 8, Cost: 8008, Statuses: sts{OK: 1, Error: 1}},
		}},
		{"ByKey", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByKey }), []gateway.UsageGroup{
			{Group: "", Requests: 1, PromptTokens: 10, CompletionTokens: 1, Cost: 1001, Statuses: sts{OK: 1}},
			{Group: "k1", Requests: 2, PromptTokens: 50, CompletionTokens: 5, Cost: 5005, Statuses: sts{OK: 2}},
			{Group: "k2", Requests: 2, PromptTokens: 90, CompletionTokens: 9, Cost: 9009, Statuses: sts{Incomplete: 1, Canceled: 1}},
			{Group: "k3", Requests: 1, PromptTokens: 60, CompletionTokens: 6, Cost: 6006, Statuses: sts{Error: 1}},
		}},
		{"ByDayUTC", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByDay }), []gateway.UsageGroup{
			{Group: "2025-03-01", Requests: 2, PromptTokens: 30, CompletionTokens: 3, Cost: 3003, Statuses: sts{OK: 2}},
			{Group: "2025-03-02", Requests: 4, PromptTokens: 180, CompletionTokens: 18, Cost: 18018, Statuses: sts{OK: 1, Error: 1, Incomplete: 1, Canceled: 1}},
		}},
		{"ByUser", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByUser }), []gateway.UsageGroup{
			{Group: "u1", Requests: 5, PromptTokens: 150, CompletionTokens: 15, Cost: 15015, Statuses: sts{OK: 3, Incomplete: 1, Canceled: 1}},
			{Group: "u2", Requests: 1, PromptTokens: 60, CompletionTokens: 6, Cost: 6006, Statuses: sts{Error: 1}},
		}},
		{"UserScope", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByModel; q.UserID = "u2" }), []gateway.UsageGroup{
			{Group: "m2", Requests: 1, PromptTokens: 60, CompletionTokens: 6, Cost: 6006, Statuses: sts{Error: 1}},
		}},
		{"KeyScope", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByModel; q.UserID = "u1"; q.KeyID = "k1" }), []gateway.UsageGroup{
			{Group: "m1", Requests: 1, PromptTokens: 30, CompletionTokens: 3, Cost: 3003, Statuses: sts{OK: 1}},
			{Group: "m2", Requests: 1, PromptTokens: 20, CompletionTokens: 2, Cost: 2002, Statuses: sts{OK: 1}},
		}},
		{"EndUserScope", with(all, func(q *gateway.UsageQuery) {
			q.GroupBy = gateway.UsageByKey
			q.UserID, q.KeyID, q.EndUserID = "u1", "k2", "alice"
		}), []gateway.UsageGroup{
			{Group: "k2", Requests: 1, PromptTokens: 40, CompletionTokens: 4, Cost: 4004, Statuses: sts{Incomplete: 1}},
		}},
		{"RangeIsHalfOpen", gateway.UsageQuery{From: day1, To: day2, GroupBy: gateway.UsageByDay}, []gateway.UsageGroup{
			{Group: "2025-03-01", Requests: 2, PromptTokens: 30, CompletionTokens: 3, Cost: 3003, Statuses: sts{OK: 2}},
		}},
		{"RangeFromIsInclusive", gateway.UsageQuery{From: day2, To: day2.Add(time.Hour), GroupBy: gateway.UsageByModel}, []gateway.UsageGroup{
			{Group: "m1", Requests: 3, PromptTokens: 120, CompletionTokens: 12, Cost: 12012, Statuses: sts{OK: 1, Incomplete: 1, Canceled: 1}},
		}},
		{"ByStatus", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByStatus }), []gateway.UsageGroup{
			{Group: "canceled", Requests: 1, PromptTokens: 50, CompletionTokens: 5, Cost: 5005, Statuses: sts{Canceled: 1}},
			{Group: "error", Requests: 1, PromptTokens: 60, CompletionTokens: 6, Cost: 6006, Statuses: sts{Error: 1}},
			{Group: "incomplete", Requests: 1, PromptTokens: 40, CompletionTokens: 4, Cost: 4004, Statuses: sts{Incomplete: 1}},
			{Group: "ok", Requests: 3, PromptTokens: 60, CompletionTokens: 6, Cost: 6006, Statuses: sts{OK: 3}},
		}},
		{"ByServedModel", with(all, func(q *gateway.UsageQuery) { q.GroupBy = gateway.UsageByServedModel }), []gateway.UsageGroup{
			{Group: "m1", Requests: 5, PromptTokens: 190, CompletionTokens: 19, Cost: 19019, Statuses: sts{OK: 2, Error: 1, Incomplete: 1, Canceled: 1}},
			{Group: "m2", Requests: 1, PromptTokens: 20, CompletionTokens: 2, Cost: 2002, Statuses: sts{OK: 1}},
		}},
		{"NoRows", gateway.UsageQuery{From: day2.Add(48 * time.Hour), To: day2.Add(72 * time.Hour), GroupBy: gateway.UsageByModel}, []gateway.UsageGroup{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, summaryOf(t, st, tc.q)); diff != "" {
				t.Fatalf("UsageSummary mismatch (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("NonUTCTimesAreStoredAsUTC", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		east := time.FixedZone("UTC+5", 5*3600)
		// 2025-03-02 02:00 at UTC+5 is 2025-03-01 21:00 UTC.
		if err := st.InsertUsage(ctx, []gateway.UsageRecord{rec(time.Date(2025, 3, 2, 2, 0, 0, 0, east), "u", "", "", "m", 1, 1)}); err != nil {
			t.Fatal(err)
		}
		got := summaryOf(t, st, gateway.UsageQuery{From: day1.Add(-24 * time.Hour), To: day2.Add(24 * time.Hour), GroupBy: gateway.UsageByDay})
		want := []gateway.UsageGroup{{Group: "2025-03-01", Requests: 1, PromptTokens: 1, CompletionTokens: 1, Cost: 101, Statuses: gateway.UsageStatuses{OK: 1}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("UsageSummary mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("LargeBatch", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		batch := make([]gateway.UsageRecord, 1234)
		for i := range batch {
			batch[i] = rec(day1.Add(-time.Duration(i)*time.Second), fmt.Sprintf("u%d", i%3), "", "", "m", 2, 1)
		}
		if err := st.InsertUsage(ctx, batch); err != nil {
			t.Fatalf("InsertUsage(1234 rows): %v", err)
		}
		got := summaryOf(t, st, gateway.UsageQuery{From: day1.Add(-24 * time.Hour), To: day2, GroupBy: gateway.UsageByModel})
		want := []gateway.UsageGroup{{Group: "m", Requests: 1234, PromptTokens: 2468, CompletionTokens: 1234, Cost: 248034, Statuses: gateway.UsageStatuses{OK: 1234}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("UsageSummary mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("IdempotentByRecordID", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		withID := func(id string, prompt int64) gateway.UsageRecord {
			r := rec(day1, "u", "", "", "m", prompt, 1)
			r.ID = id
			return r
		}
		// A replayed batch (same ids, even with other values), a batch
		// repeating an id inside itself, and records without an id, which
		// are always inserted.
		batches := [][]gateway.UsageRecord{
			{withID("a", 1), withID("b", 2), rec(day1, "u", "", "", "m", 4, 1)},
			{withID("a", 100), withID("b", 200), withID("c", 8), rec(day1, "u", "", "", "m", 16, 1)},
			{withID("d", 32), withID("d", 64)},
		}
		for _, b := range batches {
			if err := st.InsertUsage(ctx, b); err != nil {
				t.Fatalf("InsertUsage: %v", err)
			}
		}
		got := summaryOf(t, st, gateway.UsageQuery{From: day1.Add(-time.Hour), To: day2, GroupBy: gateway.UsageByModel})
		want := []gateway.UsageGroup{{Group: "m", Requests: 6, PromptTokens: 1 + 2 + 4 + 8 + 16 + 32, CompletionTokens: 6,
			Cost: (1+2+4+8+16+32)*100 + 6, Statuses: gateway.UsageStatuses{OK: 6}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("UsageSummary after replays mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("EmptyBatch", func(t *testing.T) {
		if err := st.InsertUsage(ctx, nil); err != nil {
			t.Fatalf("InsertUsage(nil) = %v, want nil", err)
		}
	})

	t.Run("UnknownGroupBy", func(t *testing.T) {
		if _, err := st.UsageSummary(ctx, gateway.UsageQuery{From: day1, To: day2, GroupBy: "nope"}); err == nil {
			t.Fatal("UsageSummary(group_by=nope) err = nil, want an error")
		}
	})
}
