package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

var engines = map[string]func(testing.TB) *sqlstore.Store{"SQLite": sqltest.SQLite, "Postgres": sqltest.Postgres}

// failingAppend is the real store whose audit insert fails.
type failingAppend struct{ *sqlstore.Store }

func (failingAppend) AppendAudit(context.Context, []*gateway.AuditRecord) error {
	return errors.New("disk full")
}

// TestChangeRolledBackWhenAuditInsertFails: the change and its record
// commit together; an insert that fails undoes the change.
func TestChangeRolledBackWhenAuditInsertFails(t *testing.T) {
	t.Parallel()
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t)
			svc, err := audit.New(audit.Options{Store: failingAppend{st}})
			if err != nil {
				t.Fatal(err)
			}
			u := &gateway.User{Email: "x@example.com", Role: gateway.RoleViewer, Active: true}
			err = svc.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
				return []gateway.AuditEvent{{Action: gateway.AuditUserCreated}}, st.CreateUser(ctx, u)
			})
			if err == nil {
				t.Fatal("Change = nil, want the insert's error")
			}
			if _, err := st.UserByEmail(ctx, u.Email); !errors.Is(err, gateway.ErrNotFound) {
				t.Fatalf("user after failed audit insert: err = %v, want ErrNotFound", err)
			}
			// The same change with a working store commits both.
			ok, _ := audit.New(audit.Options{Store: st})
			if err := ok.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
				return []gateway.AuditEvent{{Action: gateway.AuditUserCreated, Target: &gateway.AuditRef{Type: "user", ID: "x"}}}, st.CreateUser(ctx, u)
			}); err != nil {
				t.Fatal(err)
			}
			recs, _ := st.ListAudit(ctx, gateway.AuditFilter{})
			if len(recs) != 1 || recs[0].Action != gateway.AuditUserCreated {
				t.Fatalf("records = %+v", recs)
			}
			// A change that fails leaves no record.
			if err := ok.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
				return []gateway.AuditEvent{{Action: gateway.AuditUserCreated}}, st.CreateUser(ctx, u)
			}); !errors.Is(err, gateway.ErrConflict) {
				t.Fatalf("duplicate Change = %v, want ErrConflict", err)
			}
			if recs, _ := st.ListAudit(ctx, gateway.AuditFilter{}); len(recs) != 1 {
				t.Fatalf("records after failed change = %d, want 1", len(recs))
			}
		})
	}
}

// TestRecordFields: actor from the principal, request metadata, success
// by default, and detail keys that name a secret are never stored.
func TestRecordFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := sqltest.SQLite(t)
	svc, _ := audit.New(audit.Options{Store: st})
	for _, tc := range []struct {
		p    *gateway.Principal
		want gateway.AuditRef
	}{
		{nil, gateway.AuditRef{Type: "anonymous"}}, // a request without a principal
		{&gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1"}, gateway.AuditRef{Type: "user", ID: "u1"}},
		{&gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u1", KeyID: "k1"}, gateway.AuditRef{Type: "key", ID: "k1"}},
		{&gateway.Principal{Kind: gateway.PrincipalStatic, StaticName: "fe"}, gateway.AuditRef{Type: "static", ID: "fe"}},
		{&gateway.Principal{Kind: gateway.PrincipalLocal}, gateway.AuditRef{Type: "user", ID: "local"}},
	} {
		c := gateway.WithRequestMeta(gateway.WithPrincipal(ctx, tc.p), gateway.RequestMeta{IP: "192.0.2.1", UserAgent: "ua/1", RequestID: "r1"})
		svc.Record(c, gateway.AuditEvent{Action: "x", Details: map[string]any{"name": "n", "password": "p", "new_token": "t", "key": "k", "session_id": "s"}})
		recs, err := st.ListAudit(ctx, gateway.AuditFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		r := recs[0]
		if r.Actor != tc.want || r.IP != "192.0.2.1" || r.UserAgent != "ua/1" || r.RequestID != "r1" || r.Outcome != "success" {
			t.Fatalf("record = %+v, want actor %+v", r, tc.want)
		}
		var d map[string]any
		if err := json.Unmarshal(r.Details, &d); err != nil || len(d) != 1 || d["name"] != "n" {
			t.Fatalf("details = %s, want only name", r.Details)
		}
	}
}

// TestFailedLoginsBounded: a flood of failed logins stores at most the
// per-minute limit, counts the rest in the metric and in one summary
// record per minute.
func TestFailedLoginsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := sqltest.SQLite(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 10, 0, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reg := prometheus.NewRegistry()
	svc, err := audit.New(audit.Options{Store: st, MaxFailedLoginsPerMinute: 5, Now: clock, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() { defer wg.Done(); svc.FailedLogin(ctx, "victim@example.com", nil) }()
	}
	wg.Wait()
	svc.Flush(ctx)
	recs, _ := st.ListAudit(ctx, gateway.AuditFilter{Limit: 200})
	if len(recs) != 5 {
		t.Fatalf("records in the first minute = %d, want 5", len(recs))
	}
	for _, r := range recs {
		if r.Action != gateway.AuditLoginFailed || r.Outcome != "failure" || r.Actor.Type != "anonymous" || string(r.Details) != `{"email":"victim@example.com"}` {
			t.Fatalf("record = %+v", r)
		}
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	svc.Flush(ctx)
	svc.Flush(ctx)
	recs, _ = st.ListAudit(ctx, gateway.AuditFilter{Action: gateway.AuditLoginFailedDropped})
	if len(recs) != 1 || string(recs[0].Details) != `{"dropped":95,"minute":"2026-01-01T10:00:00Z"}` {
		t.Fatalf("summary records = %+v", recs)
	}
	if got := testutil.ToFloat64(svc.DroppedMetric()); got != 95 {
		t.Fatalf("dropped metric = %v, want 95", got)
	}
	// The next minute has its own allowance.
	svc.FailedLogin(ctx, "victim@example.com", nil)
	svc.Flush(ctx)
	if recs, _ := st.ListAudit(ctx, gateway.AuditFilter{Action: gateway.AuditLoginFailed, Limit: 200}); len(recs) != 6 {
		t.Fatalf("failed-login records = %d, want 6", len(recs))
	}
	if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
		t.Fatalf("VerifyAudit = %+v, %v", brk, err)
	}
}
