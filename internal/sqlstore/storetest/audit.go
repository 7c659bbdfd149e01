package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func auditRec(action, actor, target, outcome string) *gateway.AuditRecord {
	r := &gateway.AuditRecord{Action: action, Actor: gateway.AuditRef{Type: "user", ID: actor}, Outcome: outcome,
		IP: "10.0.0.1", UserAgent: "ua", RequestID: "req-" + action, Details: []byte(`{"k":"v"}`)}
	if target != "" {
		r.Target = &gateway.AuditRef{Type: "user", ID: target}
	}
	return r
}

func testAudit(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("AppendListVerify", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit(empty) = %+v, %v", brk, err)
		}
		recs := []*gateway.AuditRecord{
			auditRec("key.created", "u1", "k1", "success"),
			auditRec("auth.login", "u2", "u2", "success"),
			auditRec("auth.login_failed", "", "", "failure"),
		}
		if err := st.AppendAudit(ctx, recs[:1]); err != nil {
			t.Fatal(err)
		}
		if err := st.AppendAudit(ctx, recs[1:]); err != nil {
			t.Fatal(err)
		}
		if recs[0].Seq != 1 || recs[2].Seq != 3 || recs[1].PrevHash != recs[0].Hash || recs[0].PrevHash != "" || recs[0].ID == "" {
			t.Fatalf("chain fields: %+v", recs)
		}
		all, err := st.ListAudit(ctx, gateway.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 || all[0].Seq != 3 || all[2].Seq != 1 {
			t.Fatalf("ListAudit = %+v, want 3 newest first", all)
		}
		first := all[2]
		if first.ID != recs[0].ID || first.Actor != (gateway.AuditRef{Type: "user", ID: "u1"}) || first.Target == nil || first.Target.ID != "k1" ||
			first.IP != "10.0.0.1" || first.UserAgent != "ua" || first.RequestID != "req-key.created" || string(first.Details) != `{"k":"v"}` ||
			first.Hash != recs[0].Hash || !first.At.Equal(recs[0].At) {
			t.Fatalf("stored record = %+v, appended %+v", first, recs[0])
		}
		if all[0].Target != nil {
			t.Fatalf("record without target read back with %+v", all[0].Target)
		}
		for _, tc := range []struct {
			name string
			f    gateway.AuditFilter
			want []int64
		}{
			{"Action", gateway.AuditFilter{Action: "auth.login"}, []int64{2}},
			{"Actor", gateway.AuditFilter{ActorID: "u1"}, []int64{1}},
			{"Target", gateway.AuditFilter{TargetID: "u2"}, []int64{2}},
			{"Outcome", gateway.AuditFilter{Outcome: "failure"}, []int64{3}},
			{"Subject", gateway.AuditFilter{Subject: []string{"k1", "u2"}}, []int64{2, 1}},
			{"Page", gateway.AuditFilter{BeforeSeq: 3, Limit: 1}, []int64{2}},
			{"FromFuture", gateway.AuditFilter{From: time.Now().Add(time.Hour)}, nil},
			{"ToFuture", gateway.AuditFilter{To: time.Now().Add(time.Hour)}, []int64{3, 2, 1}},
			{"ToPast", gateway.AuditFilter{To: time.Now().Add(-time.Hour)}, nil},
		} {
			got, err := st.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, r := range got {
				seqs = append(seqs, r.Seq)
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tc.want) {
				t.Errorf("%s: seqs = %v, want %v", tc.name, seqs, tc.want)
			}
		}
		if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit = %+v, %v", brk, err)
		}
	})
	t.Run("InTxRollsBackChangeAndRecord", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		boom := errors.New("boom")
		u := newUser("rollback@example.com", gateway.RoleViewer)
		err := st.InTx(ctx, func(ctx context.Context) error {
			if err := st.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := st.AppendAudit(ctx, []*gateway.AuditRecord{auditRec("user.created", "a", u.ID, "success")}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if _, err := st.UserByEmail(ctx, u.Email); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("user after rollback: err = %v, want ErrNotFound", err)
		}
		if got, _ := st.ListAudit(ctx, gateway.AuditFilter{}); len(got) != 0 {
			t.Fatalf("records after rollback = %+v", got)
		}
		// The chain continues cleanly after a rolled-back append.
		if err := st.AppendAudit(ctx, []*gateway.AuditRecord{auditRec("a", "b", "", "success")}); err != nil {
			t.Fatal(err)
		}
		if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit = %+v, %v", brk, err)
		}
	})
	t.Run("ConcurrentAppendsFormOneChain", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for w := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := st.AppendAudit(ctx, []*gateway.AuditRecord{auditRec(fmt.Sprintf("w%d.%d", w, i), "x", "", "success")}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit = %+v, %v", brk, err)
		}
		n := 0
		if err := st.ScanAudit(ctx, 0, func(gateway.AuditRecord) error { n++; return nil }); err != nil || n != 100 {
			t.Fatalf("ScanAudit saw %d, %v; want 100", n, err)
		}
	})
	t.Run("PruneKeepsChainVerifiable", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		old := time.Now().Add(-48 * time.Hour)
		var recs []*gateway.AuditRecord
		for i := range 5 {
			r := auditRec("old", "x", "", "success")
			r.At = old.Add(time.Duration(i) * time.Minute)
			recs = append(recs, r)
		}
		recs = append(recs, auditRec("new", "x", "", "success"), auditRec("new", "x", "", "success"))
		if err := st.AppendAudit(ctx, recs); err != nil {
			t.Fatal(err)
		}
		n, err := st.PruneAudit(ctx, time.Now().Add(-24*time.Hour))
		if err != nil || n != 5 {
			t.Fatalf("PruneAudit = %d, %v; want 5", n, err)
		}
		left, _ := st.ListAudit(ctx, gateway.AuditFilter{})
		if len(left) != 2 || left[1].Seq != 6 {
			t.Fatalf("after prune: %+v", left)
		}
		if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit after prune = %+v, %v", brk, err)
		}
		if n, err := st.PruneAudit(ctx, time.Now().Add(-24*time.Hour)); err != nil || n != 0 {
			t.Fatalf("second PruneAudit = %d, %v; want 0", n, err)
		}
		if err := st.AppendAudit(ctx, []*gateway.AuditRecord{auditRec("after", "x", "", "success")}); err != nil {
			t.Fatal(err)
		}
		if brk, err := st.VerifyAudit(ctx); err != nil || brk != nil {
			t.Fatalf("VerifyAudit after prune+append = %+v, %v", brk, err)
		}
	})
}
