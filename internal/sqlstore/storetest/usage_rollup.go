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

// testUsageRollupProperty: summaries (read from usage_daily for whole
// days, usage_hourly for whole hours of the partial edge days and
// usage_records for the rest) equal the sums over the raw records, for
// random records (replayed batches, repeated ids, records arriving late
// for earlier days, records without an id), random periods (whole days,
// whole hours, partial hours, instants) and every group_by and filter.
// It runs on days long past (before usage_hourly_floor: the edges read raw
// records) and on the last days (hourly sums), there also after
// PruneUsageHourly moved the floor into the data and late records came
// below and above it.
func testUsageRollupProperty(t *testing.T, open Opener) {
	ctx := context.Background()
	recent := time.Now().UTC().Truncate(24 * time.Hour).Add(-3 * 24 * time.Hour)
	for name, base := range map[string]time.Time{"past": time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "recent": recent} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			p := newRollupProperty(base)
			for round := range 6 {
				p.insert(t, st, round)
			}
			p.check(t, st, 120)
			if name == "past" {
				return
			}
			// The floor moves to 14:00 on the data's third day (the first
			// prune raises it, the second deletes below it); the next
			// rounds add late records below and above it.
			cut := base.Add(2*24*time.Hour + 14*time.Hour + 30*time.Minute)
			if n, err := st.PruneUsageHourly(ctx, cut); err != nil || n != 0 {
				t.Fatalf("first PruneUsageHourly = %d, %v; want 0 (it deletes below the floor it replaces)", n, err)
			}
			if n, err := st.PruneUsageHourly(ctx, cut); err != nil || n == 0 {
				t.Fatalf("second PruneUsageHourly = %d, %v; want the rows below the floor", n, err)
			}
			p.check(t, st, 60)
			for round := range 3 {
				p.insert(t, st, round)
			}
			p.check(t, st, 120)
		})
	}
}

// rollupProperty is testUsageRollupProperty's generator and its record of
// what the store holds.
type rollupProperty struct {
	rng   *rand.Rand
	base  time.Time
	truth []gateway.UsageRecord
	seen  map[string]bool
	n     int
}

func newRollupProperty(base time.Time) *rollupProperty {
	return &rollupProperty{rng: rand.New(rand.NewPCG(23, 15)), base: base, seen: map[string]bool{}}
}

func (p *rollupProperty) pick(xs ...string) string { return xs[p.rng.IntN(len(xs))] }

func (p *rollupProperty) record(at time.Time) gateway.UsageRecord {
	statuses := []gateway.UsageStatus{gateway.UsageOK, gateway.UsageError, gateway.UsageIncomplete, gateway.UsageCanceled}
	i := p.n
	p.n++
	r := gateway.UsageRecord{
		ID: fmt.Sprintf("r%05d", i), CreatedAt: at, RequestID: fmt.Sprintf("q%d", i),
		UserID: p.pick("u1", "u2", "u3"), KeyID: p.pick("", "k1", "k2"), EndUserID: p.pick("", "alice", "bob"),
		Model: p.pick("m1", "m2"), ServedModel: p.pick("m1", "m2", "m3"), Provider: "p",
		PromptTokens: p.rng.Int64N(1000), CompletionTokens: p.rng.Int64N(500), Cost: gateway.Micros(p.rng.Int64N(100000)),
		Status: statuses[p.rng.IntN(len(statuses))], HTTPStatus: 200,
	}
	if p.rng.IntN(10) == 0 {
		r.ID = "" // not from the writer: always inserted
	}
	return r
}

// insert writes one batch of 60 records on day round, one in six of them
// late for an earlier day, with a replay of part of an earlier batch and
// a repeat inside the batch.
func (p *rollupProperty) insert(t *testing.T, st Stores, round int) {
	t.Helper()
	var batch []gateway.UsageRecord
	for range 60 {
		at := p.base.Add(time.Duration(round)*24*time.Hour + time.Duration(p.rng.Int64N(int64(24*time.Hour))))
		if p.rng.IntN(6) == 0 {
			at = p.base.Add(time.Duration(p.rng.Int64N(int64(round+1) * int64(24*time.Hour)))) // late
		}
		batch = append(batch, p.record(at))
	}
	if len(p.truth) > 10 {
		batch = append(batch, p.truth[p.rng.IntN(len(p.truth)-5):]...)
	}
	batch = append(batch, batch[0])
	if err := st.InsertUsage(context.Background(), batch); err != nil {
		t.Fatalf("InsertUsage: %v", err)
	}
	for _, r := range batch {
		if r.ID != "" && p.seen[r.ID] {
			continue
		}
		p.seen[r.ID] = true // a record without an id is inserted every time
		p.truth = append(p.truth, r)
	}
}

func usageGroupOf(r gateway.UsageRecord, by gateway.UsageGroupBy) string {
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

// expect sums the records q selects.
func (p *rollupProperty) expect(q gateway.UsageQuery) []gateway.UsageGroup {
	m := map[string]*gateway.UsageGroup{}
	for _, r := range p.truth {
		if r.CreatedAt.Before(q.From) || !r.CreatedAt.Before(q.To) ||
			(q.UserID != "" && r.UserID != q.UserID) || (q.KeyID != "" && r.KeyID != q.KeyID) || (q.EndUserID != "" && r.EndUserID != q.EndUserID) {
			continue
		}
		k := usageGroupOf(r, q.GroupBy)
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

// instant is a random period bound over the data's days and one either
// side: midnight, a whole hour, a minute, or any instant.
func (p *rollupProperty) instant() time.Time {
	switch p.rng.IntN(4) {
	case 0:
		return p.base.Add(time.Duration(p.rng.IntN(8)-1) * 24 * time.Hour)
	case 1:
		return p.base.Add(time.Duration(p.rng.IntN(8*24)-24) * time.Hour)
	case 2:
		return p.base.Add(time.Duration(p.rng.IntN(8*24*60)-24*60) * time.Minute)
	}
	return p.base.Add(time.Duration(p.rng.Int64N(int64(8*24*time.Hour))) - 24*time.Hour)
}

// check compares n random summaries with the raw sums.
func (p *rollupProperty) check(t *testing.T, st Stores, n int) {
	t.Helper()
	groupBys := []gateway.UsageGroupBy{gateway.UsageByModel, gateway.UsageByKey, gateway.UsageByDay, gateway.UsageByUser, gateway.UsageByStatus, gateway.UsageByServedModel}
	for i := range n {
		a, b := p.instant(), p.instant()
		if b.Before(a) {
			a, b = b, a
		}
		q := gateway.UsageQuery{From: a, To: b, GroupBy: groupBys[i%len(groupBys)]}
		switch p.rng.IntN(4) {
		case 1:
			q.UserID = p.pick("u1", "u2")
		case 2:
			q.UserID, q.KeyID = p.pick("u1", "u3"), p.pick("", "k1", "k2")
		case 3:
			q.UserID, q.KeyID, q.EndUserID = "u2", "k1", p.pick("alice", "bob")
		}
		got, err := st.UsageSummary(context.Background(), q)
		if err != nil {
			t.Fatalf("UsageSummary(%+v): %v", q, err)
		}
		for j := range got {
			got[j].Name = "" // key names come from api_keys; none here
		}
		if diff := cmp.Diff(p.expect(q), got); diff != "" {
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
