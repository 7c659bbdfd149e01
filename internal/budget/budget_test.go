package budget_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T, at time.Time) (*budget.Service, *sqlstore.Store, *clock, *prometheus.Registry) {
	t.Helper()
	st := sqltest.SQLite(t)
	c := &clock{at}
	reg := prometheus.NewRegistry()
	svc := budget.New(budget.Options{Store: st, Now: c.now, Registerer: reg, ReservationTTL: time.Minute, Log: slog.New(slog.DiscardHandler)})
	return svc, st, c, reg
}

func i64(v int64) *int64 { return &v }

func wantRefusal(t *testing.T, err error, code string, retryAfter int) *gateway.Error {
	t.Helper()
	ge, ok := gateway.AsError(err)
	if !ok || ge.Kind != gateway.KindRateLimited || ge.Code != code || ge.RetryAfter != retryAfter {
		t.Fatalf("err = %+v, want 429 %s with RetryAfter %d", err, code, retryAfter)
	}
	return ge
}

// TestPeriodRollover: a daily, weekly and monthly budget refuses until
// its period ends (Retry-After = seconds to the end), then admits again.
func TestPeriodRollover(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		period gateway.BudgetPeriod
		at     time.Time // a Wednesday, 2026-12-30 22:00 UTC
		end    time.Time
	}{
		{gateway.PeriodDay, time.Date(2026, 12, 30, 22, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{gateway.PeriodWeek, time.Date(2026, 12, 30, 22, 0, 0, 0, time.UTC), time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)},
		{gateway.PeriodMonth, time.Date(2026, 12, 30, 22, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(string(tc.period), func(t *testing.T) {
			svc, st, c, _ := newService(t, tc.at)
			b := &gateway.Budget{SubjectType: gateway.BudgetKey, Subject: "k1", Period: tc.period, MaxTokens: i64(100)}
			if err := svc.Create(ctx, b); err != nil {
				t.Fatal(err)
			}
			p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k1", UserID: "u1", Role: gateway.RoleContributor}
			settle, err := svc.Admit(ctx, p, 100, 0)
			if err != nil {
				t.Fatal(err)
			}
			settle.Settle(ctx, 90, 0)
			_, err = svc.Admit(ctx, p, 11, 0)
			ge := wantRefusal(t, err, "quota_exceeded", int(tc.end.Sub(tc.at).Seconds()))
			if !strings.Contains(ge.Message, b.ID) || !strings.Contains(ge.Message, string(tc.period)) {
				t.Fatalf("message %q does not name the budget", ge.Message)
			}
			c.t = tc.end.Add(-time.Second)
			_, err = svc.Admit(ctx, p, 11, 0)
			wantRefusal(t, err, "quota_exceeded", 1)
			c.t = tc.end
			settle, err = svc.Admit(ctx, p, 100, 0)
			if err != nil {
				t.Fatalf("after rollover: %v", err)
			}
			settle.Settle(ctx, 5, 0)
			if bc, _ := st.BudgetCounter(ctx, b.ID, tc.end); bc.UsedTokens != 5 || bc.ReservedTokens != 0 {
				t.Fatalf("new period counter = %+v", bc)
			}
		})
	}
	t.Run("TotalHasNoRetryAfter", func(t *testing.T) {
		svc, _, _, _ := newService(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err := svc.Create(ctx, &gateway.Budget{SubjectType: gateway.BudgetRole, Subject: "contributor", Period: gateway.PeriodTotal, MaxTokens: i64(10)}); err != nil {
			t.Fatal(err)
		}
		_, err := svc.Admit(ctx, &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u", Role: gateway.RoleContributor}, 11, 0)
		wantRefusal(t, err, "quota_exceeded", -1)
		// Another role is not capped.
		if _, err := svc.Admit(ctx, &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u", Role: gateway.RoleAdmin}, 11, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEndUserBudgets: each end user of an app key has its own budget; the
// key's budget caps them together.
func TestEndUserBudgets(t *testing.T) {
	ctx := context.Background()
	svc, _, _, _ := newService(t, time.Date(2026, 5, 5, 12, 0, 0, 0, time.UTC))
	for _, b := range []*gateway.Budget{
		{SubjectType: gateway.BudgetEndUser, Subject: "app:alice", Period: gateway.PeriodDay, MaxTokens: i64(30)},
		{SubjectType: gateway.BudgetEndUser, Subject: "app:bob", Period: gateway.PeriodDay, MaxTokens: i64(30)},
		{SubjectType: gateway.BudgetKey, Subject: "app", Period: gateway.PeriodDay, MaxTokens: i64(50)},
	} {
		if err := svc.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	eu := func(id string) *gateway.Principal {
		return &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "app", UserID: "owner", Role: gateway.RoleContributor, EndUserMode: true, EndUserID: id}
	}
	admit := func(id string, tokens int64) error {
		settle, err := svc.Admit(ctx, eu(id), tokens, 0)
		if err == nil {
			settle.Settle(ctx, tokens, 0)
		}
		return err
	}
	if err := admit("alice", 30); err != nil {
		t.Fatal(err)
	}
	if err := admit("alice", 1); err == nil {
		t.Fatal("alice's 31st token admitted")
	}
	if err := admit("bob", 20); err != nil {
		t.Fatalf("bob is independent of alice: %v", err)
	}
	// The key holds 50: 30 + 20 used; carol has no budget of her own.
	if err := admit("carol", 1); err == nil {
		t.Fatal("the key's budget must cap every end user together")
	}
}

// TestMaxParallel: the third concurrent request of a key with
// max_parallel 2 is refused (429 rate_limit_exceeded, Retry-After 1) until
// one settles; the user's cap counts all its keys.
func TestMaxParallel(t *testing.T) {
	ctx := context.Background()
	svc, _, _, _ := newService(t, time.Now())
	p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", UserID: "u", KeyMaxParallel: 2}
	s1, err1 := svc.Admit(ctx, p, 1, 0)
	s2, err2 := svc.Admit(ctx, p, 1, 0)
	if err1 != nil || err2 != nil || s1 == nil || s2 == nil {
		t.Fatalf("first two = %v, %v", err1, err2)
	}
	_, err := svc.Admit(ctx, p, 1, 0)
	wantRefusal(t, err, "rate_limit_exceeded", 1)
	s1.Settle(ctx, 1, 0)
	s3, err := svc.Admit(ctx, p, 1, 0)
	if err != nil {
		t.Fatalf("after one ended: %v", err)
	}
	s2.Settle(ctx, 1, 0)
	s3.Settle(ctx, 1, 0)

	other := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k2", UserID: "u", UserMaxParallel: 1}
	mine := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u", UserMaxParallel: 1}
	so, err := svc.Admit(ctx, other, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Admit(ctx, mine, 1, 0)
	wantRefusal(t, err, "rate_limit_exceeded", 1)
	so.Settle(ctx, 1, 0)
	if _, err := svc.Admit(ctx, mine, 1, 0); err != nil {
		t.Fatal(err)
	}
}

// TestNoBudgetNoSettle: a principal without budgets or max_parallel gets
// no settle function (nothing to write after the call).
func TestNoBudgetNoSettle(t *testing.T) {
	svc, _, _, _ := newService(t, time.Now())
	s, err := svc.Admit(context.Background(), &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", UserID: "u"}, 100, 1)
	if s != nil || err != nil {
		t.Fatalf("Admit = %v, %v; want nil, nil", s != nil, err)
	}
}

// TestAlertOncePerPeriod: crossing alert_percent counts one alert per
// budget and period.
func TestAlertOncePerPeriod(t *testing.T) {
	ctx := context.Background()
	svc, st, c, reg := newService(t, time.Date(2026, 5, 5, 12, 0, 0, 0, time.UTC))
	cost := gateway.Micros(1_000_000)
	if err := svc.Create(ctx, &gateway.Budget{SubjectType: gateway.BudgetUser, Subject: "u", Period: gateway.PeriodDay, MaxCost: &cost, AlertPercent: 80}); err != nil {
		t.Fatal(err)
	}
	p := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u"}
	alerts := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "tollgate_budget_alerts_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	spend := func(c gateway.Micros) {
		s, err := svc.Admit(ctx, p, 0, c)
		if err != nil {
			t.Fatal(err)
		}
		s.Settle(ctx, 0, c)
	}
	spend(790_000)
	if got := alerts(); got != 0 {
		t.Fatalf("alerts below 80%% = %v", got)
	}
	spend(10_000) // 80%
	spend(10_000)
	if got := alerts(); got != 1 {
		t.Fatalf("alerts = %v, want 1", got)
	}
	// A second instance on the same database does not alert again.
	reg2 := prometheus.NewRegistry()
	other := budget.New(budget.Options{Store: st, Now: c.now, Registerer: reg2})
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s2, err := other.Admit(ctx, p, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	s2.Settle(ctx, 0, 1)
	mfs, _ := reg2.Gather()
	var second []float64
	for _, mf := range mfs {
		if mf.GetName() == "tollgate_budget_alerts_total" {
			second = append(second, mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	if len(second) != 1 || second[0] != 0 {
		t.Fatalf("second instance alerts = %v, want [0]", second)
	}
	c.t = c.t.AddDate(0, 0, 1)
	spend(900_000)
	if got := alerts(); got != 2 {
		t.Fatalf("alerts next day = %v, want 2", got)
	}
}

// TestValidate names the offending field.
func TestValidate(t *testing.T) {
	neg := gateway.Micros(-1)
	for _, tc := range []struct {
		b     gateway.Budget
		param string
	}{
		{gateway.Budget{Subject: "k", Period: "day", MaxTokens: i64(1)}, "body.subject_type"},
		{gateway.Budget{SubjectType: "team", Subject: "k", Period: "day", MaxTokens: i64(1)}, "body.subject_type"},
		{gateway.Budget{SubjectType: "key", Period: "day", MaxTokens: i64(1)}, "body.subject"},
		{gateway.Budget{SubjectType: "role", Subject: "boss", Period: "day", MaxTokens: i64(1)}, "body.subject"},
		{gateway.Budget{SubjectType: "end_user", Subject: "alice", Period: "day", MaxTokens: i64(1)}, "body.subject"},
		{gateway.Budget{SubjectType: "key", Subject: "k", Period: "year", MaxTokens: i64(1)}, "body.period"},
		{gateway.Budget{SubjectType: "key", Subject: "k", Period: "day"}, "body.max_tokens"},
		{gateway.Budget{SubjectType: "key", Subject: "k", Period: "day", MaxTokens: i64(-1)}, "body.max_tokens"},
		{gateway.Budget{SubjectType: "key", Subject: "k", Period: "day", MaxCost: &neg}, "body.max_cost"},
		{gateway.Budget{SubjectType: "key", Subject: "k", Period: "day", MaxTokens: i64(1), AlertPercent: 101}, "body.alert_percent"},
	} {
		err := budget.Validate(&tc.b)
		if ge, ok := gateway.AsError(err); !ok || ge.Param != tc.param {
			t.Errorf("Validate(%+v) = %v, want param %s", tc.b, err, tc.param)
		}
	}
}
