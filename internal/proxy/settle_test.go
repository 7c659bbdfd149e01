package proxy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/proxy"
)

// holdAdmitter admits every request with one Admission it counts: a
// settlement, a slot release, and a synchronous settle.
type holdAdmitter struct {
	mu        sync.Mutex
	released  int
	settledAt []gateway.SettledUse
	st        *gateway.BudgetSettlement
}

func (a *holdAdmitter) Admit(context.Context, *gateway.Principal, int64, gateway.Micros) (*gateway.Admission, error) {
	return &gateway.Admission{Settlement: a.st,
		Release: func(context.Context) { a.mu.Lock(); a.released++; a.mu.Unlock() },
		SettleNow: func(_ context.Context, u gateway.SettledUse) {
			a.mu.Lock()
			a.settledAt = append(a.settledAt, u)
			a.mu.Unlock()
		}}, nil
}

// TestSettlementRidesTheUsageRecord: the request path never settles a
// budget itself; the usage record carries the settlement (the usage
// writer's transaction applies it) and the max_parallel slots are
// released once. Without a usage recorder the proxy settles at once,
// with the real use.
func TestSettlementRidesTheUsageRecord(t *testing.T) {
	st := &gateway.BudgetSettlement{ReservationID: "res-1", Reserved: []gateway.ReservedCharge{{BudgetID: "b1", Tokens: 4096}}}
	for _, withUsage := range []bool{true, false} {
		adm := &holdAdmitter{st: st}
		h := &harness{usage: &usageSink{}, done: make(chan struct{}, 16),
			principal: &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u1", KeyID: "k1", Role: gateway.RoleContributor}}
		opt := proxy.Options{Models: []proxy.Model{echoModel()}, Admitter: adm}
		if withUsage {
			opt.Usage = h.usage
		}
		px, err := proxy.New(opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(px.Close)
		h.px, h.srv = px, serveRouter(t, px, principalAuth{h}, h.done)

		resp := h.post(t, `{"model":"echo","messages":[{"role":"user","content":"one two three"}]}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		h.waitDone(t)
		adm.mu.Lock()
		released, settled := adm.released, adm.settledAt
		adm.mu.Unlock()
		if released != 1 {
			t.Fatalf("withUsage=%v: slots released %d times, want 1", withUsage, released)
		}
		if withUsage {
			rec := h.usage.only(t)
			if rec.Settlement != st {
				t.Fatalf("usage record settlement = %+v, want the admission's", rec.Settlement)
			}
			if len(settled) != 0 {
				t.Fatalf("settled on the request path: %+v", settled)
			}
			continue
		}
		if len(settled) != 1 || settled[0].Settlement != st || settled[0].Tokens <= 0 {
			t.Fatalf("without a usage recorder: settled %+v, want one settlement with the real tokens", settled)
		}
	}
}

// settlingFlaky is a real store whose InsertUsageSettling fails while down.
type settlingFlaky struct {
	countedStore
	mu   sync.Mutex
	down bool
}

func (s *settlingFlaky) InsertUsageSettling(ctx context.Context, recs []gateway.UsageRecord) (gateway.BudgetSettled, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return gateway.BudgetSettled{}, errors.New("database is down")
	}
	return s.countedStore.InsertUsageSettling(ctx, recs)
}

// TestUsageWriterSettlesBudgetsOnce: settlements ride the spool like the
// records they belong to. While the database is down the reservations
// hold the worst case; the next start replays the records and settles
// each once; replaying the same segment again (a SIGKILL before its
// removal) settles nothing more; OnSettled hears each settlement once,
// after its commit.
func TestUsageWriterSettlesBudgetsOnce(t *testing.T) {
	ctx := context.Background()
	st := newCountedStore(t)
	max := int64(1000)
	b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k", Period: gateway.PeriodTotal, MaxTokens: &max}
	if err := st.CreateBudget(ctx, b); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	var recs []gateway.UsageRecord
	for i := range 3 {
		id := "res-" + string(rune('a'+i))
		ch := []gateway.BudgetCharge{{Budget: *b, PeriodStart: gateway.TotalPeriodStart, Tokens: 100}}
		if refused, err := st.ReserveBudgets(ctx, id, ch, exp); err != nil || refused != "" {
			t.Fatalf("reserve = %q, %v", refused, err)
		}
		r := reqRec(i)
		r.PromptTokens, r.CompletionTokens = 10, int64(i)
		r.Settlement = &gateway.BudgetSettlement{ReservationID: id, Reserved: []gateway.ReservedCharge{{BudgetID: b.ID, PeriodStart: gateway.TotalPeriodStart, Tokens: 100}}}
		recs = append(recs, r)
	}
	counter := func() gateway.BudgetCounter {
		t.Helper()
		c, err := st.BudgetCounter(ctx, b.ID, gateway.TotalPeriodStart)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dir := filepath.Join(t.TempDir(), "spool")

	// Run 1: the database is down; the records stay in the spool and the
	// reservations keep holding 300 tokens.
	down := &settlingFlaky{countedStore: st, down: true}
	w1 := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: down, SpoolDir: dir, FlushInterval: 10 * time.Millisecond})
	for _, r := range recs {
		w1.Record(r)
	}
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := w1.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the database down = %v", err)
	}
	if c := counter(); c.UsedTokens != 0 || c.ReservedTokens != 300 {
		t.Fatalf("while down: %+v, want 300 reserved, nothing used", c)
	}
	saved := map[string][]byte{}
	for _, p := range segments(t, dir) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		saved[p] = data
	}

	// Run 2 replays and settles: 10 + 11 + 12 tokens used, nothing reserved.
	var mu sync.Mutex
	var heard []gateway.BudgetSettled
	onSettled := func(_ context.Context, s gateway.BudgetSettled) {
		mu.Lock()
		heard = append(heard, s)
		mu.Unlock()
	}
	w2 := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, SpoolDir: dir, FlushInterval: 10 * time.Millisecond, OnSettled: onSettled})
	if err := w2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counter(); c.UsedTokens != 33 || c.ReservedTokens != 0 {
		t.Fatalf("after the replay: %+v, want 33 used, 0 reserved", c)
	}
	uses := 0
	for _, s := range heard {
		uses += len(s.Uses)
		if len(s.Counters) != 1 || s.Counters[0].UsedTokens > 33 {
			t.Fatalf("OnSettled counters = %+v", s.Counters)
		}
	}
	if uses != 3 {
		t.Fatalf("OnSettled heard %d uses, want 3", uses)
	}

	// Run 3: the same segment once more settles nothing.
	for p, data := range saved {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	heard = nil
	w3 := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, SpoolDir: dir, FlushInterval: 10 * time.Millisecond, OnSettled: onSettled})
	if err := w3.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counter(); c.UsedTokens != 33 || c.ReservedTokens != 0 {
		t.Fatalf("after a second replay: %+v, want unchanged", c)
	}
	if len(heard) != 0 {
		t.Fatalf("OnSettled after a replay of stored records: %+v", heard)
	}
	wantEachOnce(t, st, 3)
}

// TestUsageWriterWritesSettlementsAtOnce: a record carrying a budget
// settlement is written without waiting for the flush interval (an hour
// here), and the records queued before it go with it.
func TestUsageWriterWritesSettlementsAtOnce(t *testing.T) {
	ctx := context.Background()
	st := newCountedStore(t)
	w := proxy.NewUsageWriter(proxy.UsageWriterOptions{Store: st, FlushInterval: time.Hour})
	t.Cleanup(func() { _ = w.Close(ctx) })
	w.Record(reqRec(0))
	r := reqRec(1)
	r.Settlement = &gateway.BudgetSettlement{ReservationID: "gone", Reserved: []gateway.ReservedCharge{{BudgetID: "b", PeriodStart: gateway.TotalPeriodStart}}}
	w.Record(r)
	waitFor(t, "both records written", func() bool { return len(requestCounts(t, st)) == 2 })
	wantEachOnce(t, st, 2)
}
