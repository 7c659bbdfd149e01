package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

// testUsageRollupProperty: summaries (read from usage_daily for whole days
// and usage_records for partial edges) equal the sums over the raw
// records, for random records (replayed batches, repeated ids, records
// arriving late for earlier days, records without an id), random periods
// (whole days, partial days, instants) and every group_by and filter.
func testUsageRollupProperty(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	rng := rand.New(rand.NewPCG(23, 15))
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	statuses := []gateway.UsageStatus{gateway.UsageOK, gateway.UsageError, gateway.UsageIncomplete, gateway.UsageCanceled}
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	randRec := func(i int, at time.Time) gateway.UsageRecord {
		r := gateway.UsageRecord{
			ID: fmt.Sprintf("r%05d", i), CreatedAt: at, RequestID: fmt.Sprintf("q%d", i),
			UserID: pick("u1", "u2", "u3"), KeyID: pick("", "k1", "k2"), EndUserID: pick("", "alice", "bob"),
			Model: pick("m1", "m2"), ServedModel: pick("m1", "m2", "m3"), Provider: "p",
			PromptTokens: rng.Int64N(1000), CompletionTokens: rng.Int64N(500), Cost: gateway.Micros(rng.Int64N(100000)),
			Status: statuses[rng.IntN(len(statuses))], HTTPStatus: 200,
		}
		if rng.IntN(10) == 0 {
			r.ID = "" // not from the writer: always inserted
		}
		return r
	}
	// Records over 6 days, in order of time, with the last batches of each
	// round late for earlier days.
	var truth []gateway.UsageRecord
	seen := map[string]bool{}
	n := 0
	for round := range 6 {
		var batch []gateway.UsageRecord
		for range 60 {
			at := base.Add(time.Duration(round)*24*time.Hour + time.Duration(rng.Int64N(int64(24*time.Hour))))
			if rng.IntN(6) == 0 {
				at = base.Add(time.Duration(rng.Int64N(int64(round+1) * int64(24*time.Hour)))) // late
			}
			batch = append(batch, randRec(n, at))
			n++
		}
		// A replay of part of an earlier batch and a repeat inside this one.
		if len(truth) > 10 {
			batch = append(batch, truth[rng.IntN(len(truth)-5):]...)
		}
		batch = append(batch, batch[0])
		if err := st.InsertUsage(ctx, batch); err != nil {
			t.Fatalf("InsertUsage: %v", err)
		}
		for _, r := range batch {
			if r.ID != "" && seen[r.ID] {
				continue
			}
			seen[r.ID] = true // a record without an id is inserted every time
			truth = append(truth, r)
		}
	}
	groupOf := func(r gateway.UsageRecord, by gateway.UsageGroupBy) string {
		switch by {
		case gateway.UsageByModel:
			return r.Model
		case gateway.UsageByKey:
			return r.KeyID
		case gateway.UsageByUser:
			return r.UserID
		case gateway.UsageByStatus:
			return string(r.Status)
		case gateway.UsageByServedModel:
			return r.ServedModel
		}
		return r.CreatedAt.UTC().Format(time.DateOnly)
	}
	expect := func(q gateway.UsageQuery) []gateway.UsageGroup {
		m := map[string]*gateway.UsageGroup{}
		for _, r := range truth {
			if r.CreatedAt.Before(q.From) || !r.CreatedAt.Before(q.To) ||
				(q.UserID != "" && r.UserID != q.UserID) || (q.KeyID != "" && r.KeyID != q.KeyID) || (q.EndUserID != "" && r.EndUserID != q.EndUserID) {
				continue
			}
			k := groupOf(r, q.GroupBy)
			g := m[k]
			if g == nil {
				g = &gateway.UsageGroup{Group: k}
				m[k] = g
			}
			g.Requests++
			g.PromptTokens += r.PromptTokens
			g.CompletionTokens += r.CompletionTokens
			g.Cost += r.Cost
			switch r.Status {
			case gateway.UsageOK:
				g.Statuses.OK++
			case gateway.UsageError:
				g.Statuses.Error++
			case gateway.UsageIncomplete:
				g.Statuses.Incomplete++
			case gateway.UsageCanceled:
				g.Statuses.Canceled++
			}
		}
		out := []gateway.UsageGroup{}
		for _, g := range m {
			out = append(out, *g)
		}
		slices.SortFunc(out, func(a, b gateway.UsageGroup) int { return strings.Compare(a.Group, b.Group) })
		return out
	}
	groupBys := []gateway.UsageGroupBy{gateway.UsageByModel, gateway.UsageByKey, gateway.UsageByDay, gateway.UsageByUser, gateway.UsageByStatus, gateway.UsageByServedModel}
	instant := func() time.Time {
		switch rng.IntN(3) {
		case 0: // midnight
			return base.Add(time.Duration(rng.IntN(8)-1) * 24 * time.Hour)
		case 1: // a whole hour
			return base.Add(time.Duration(rng.IntN(8*24)-24) * time.Hour)
		}
		return base.Add(time.Duration(rng.Int64N(int64(8*24*time.Hour))) - 24*time.Hour)
	}
	for i := range 120 {
		a, b := instant(), instant()
		if b.Before(a) {
			a, b = b, a
		}
		q := gateway.UsageQuery{From: a, To: b, GroupBy: groupBys[i%len(groupBys)]}
		switch rng.IntN(4) {
		case 1:
			q.UserID = pick("u1", "u2")
		case 2:
			q.UserID, q.KeyID = pick("u1", "u3"), pick("", "k1", "k2")
		case 3:
			q.UserID, q.KeyID, q.EndUserID = "u2", "k1", pick("alice", "bob")
		}
		got, err := st.UsageSummary(ctx, q)
		if err != nil {
			t.Fatalf("UsageSummary(%+v): %v", q, err)
		}
		for j := range got {
			got[j].Name = "" // key names come from api_keys; none here
		}
		if diff := cmp.Diff(expect(q), got); diff != "" {
			t.Fatalf("query %d %+v: summary differs from the raw sums (-want +got):\n%s", i, q, diff)
		}
	}
}

// testUsageRetention: PruneUsage deletes raw records before the cut-off
// only; summaries of whole days are unchanged (they read usage_daily),
// while a partial day before the cut-off has no raw records left.
func testUsageRetention(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	day := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	var recs []gateway.UsageRecord
	for i := range 12 {
		recs = append(recs, gateway.UsageRecord{ID: fmt.Sprintf("p%d", i), CreatedAt: day.Add(time.Duration(i) * 12 * time.Hour),
			UserID: "u", Model: "m", PromptTokens: 1, Status: gateway.UsageOK})
	}
	if err := st.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneUsage(ctx, day.Add(3*24*time.Hour)) // records 0-5
	if err != nil || n != 6 {
		t.Fatalf("PruneUsage = %d, %v; want 6", n, err)
	}
	if n, err := st.PruneUsage(ctx, day.Add(3*24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("PruneUsage again = %d, %v; want 0", n, err)
	}
	sum := func(from, to time.Time) int64 {
		got, err := st.UsageSummary(ctx, gateway.UsageQuery{From: from, To: to, GroupBy: gateway.UsageByModel})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return 0
		}
		return got[0].Requests
	}
	if got := sum(day, day.Add(6*24*time.Hour)); got != 12 {
		t.Fatalf("whole days after pruning = %d requests, want 12", got)
	}
	if got := sum(day.Add(time.Hour), day.Add(2*24*time.Hour)); got != 2 {
		t.Fatalf("from 01:00 on a pruned day = %d requests, want 2 (day 2 whole; day 1's raw rows are gone)", got)
	}
	if got := sum(day.Add(4*24*time.Hour+time.Hour), day.Add(6*24*time.Hour)); got != 3 {
		t.Fatalf("partial day after the cut-off = %d requests, want 3 (raw rows kept)", got)
	}
}
