package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// auditEngines opens, per engine, a migrated store and a raw connection to
// the same database (to tamper with rows as an attacker with database
// access would).
func auditEngines(t *testing.T) map[string]func(t *testing.T) (*sqlstore.Store, *sql.DB, string) {
	return map[string]func(t *testing.T) (*sqlstore.Store, *sql.DB, string){
		"SQLite": func(t *testing.T) (*sqlstore.Store, *sql.DB, string) {
			u := sqltest.SQLiteURL(t)
			st := sqltest.Open(t, u)
			raw, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(u, "sqlite://")+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return st, raw, u
		},
		"Postgres": func(t *testing.T) (*sqlstore.Store, *sql.DB, string) {
			u := sqltest.PostgresURL(t)
			st := sqltest.Open(t, u)
			raw, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			return st, raw, u
		},
	}
}

func appendN(t *testing.T, st *sqlstore.Store, n int) []*gateway.AuditRecord {
	t.Helper()
	var recs []*gateway.AuditRecord
	for i := range n {
		recs = append(recs, &gateway.AuditRecord{Action: fmt.Sprintf("a%d", i), Actor: gateway.AuditRef{Type: "system"}, Outcome: "success"})
	}
	if err := st.AppendAudit(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestAuditVerifyNamesTamperedRecord: an edited, a deleted and a deleted
// newest record each break the chain at the record concerned.
func TestAuditVerifyNamesTamperedRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, open := range auditEngines(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name    string
				tamper  string
				wantSeq int64
				wantID  int // index of the record named, -1 for none
			}{
				{"EditedOutcome", `UPDATE audit_log SET outcome = 'failure' WHERE seq = 3`, 3, 2},
				{"EditedDetails", `UPDATE audit_log SET details = '{"x":1}' WHERE seq = 2`, 2, 1},
				{"Deleted", `DELETE FROM audit_log WHERE seq = 3`, 3, 3},
				{"DeletedNewest", `DELETE FROM audit_log WHERE seq = 5`, 5, -1},
				{"RehashedEdit", `UPDATE audit_log SET hash = 'x' WHERE seq = 1`, 1, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					st, raw, _ := open(t)
					recs := appendN(t, st, 5)
					if _, err := raw.Exec(tc.tamper); err != nil {
						t.Fatal(err)
					}
					brk, err := st.VerifyAudit(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if brk == nil {
						t.Fatal("VerifyAudit = nil after tampering")
					}
					wantID := ""
					if tc.wantID >= 0 {
						wantID = recs[tc.wantID].ID
					}
					if brk.Seq != tc.wantSeq || brk.ID != wantID {
						t.Fatalf("break = %+v, want seq %d id %q", brk, tc.wantSeq, wantID)
					}
				})
			}
		})
	}
}

// TestAuditTwoInstancesOneChain: two stores (two instances) on one
// PostgreSQL database append 1,000 records concurrently; the chain
// verifies clean and has 1,000 contiguous records.
func TestAuditTwoInstancesOneChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	u := sqltest.PostgresURL(t)
	a, b := sqltest.Open(t, u), sqltest.Open(t, u)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for w := range 20 {
		st := a
		if w%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				r := &gateway.AuditRecord{Action: fmt.Sprintf("w%d.%d", w, i), Actor: gateway.AuditRef{Type: "system"}, Outcome: "success"}
				if err := st.AppendAudit(ctx, []*gateway.AuditRecord{r}); err != nil {
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
	if brk, err := a.VerifyAudit(ctx); err != nil || brk != nil {
		t.Fatalf("VerifyAudit = %+v, %v", brk, err)
	}
	n, last := 0, int64(0)
	if err := b.ScanAudit(ctx, 0, func(r gateway.AuditRecord) error {
		n++
		last = r.Seq
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1000 || last != 1000 {
		t.Fatalf("records = %d, last seq %d; want 1000, 1000", n, last)
	}
}
