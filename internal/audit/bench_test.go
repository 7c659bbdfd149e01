package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/audit"
	"github.com/tollgate/tollgate/internal/gateway"
)

// BenchmarkChange is the cost of the audit record on a change: the same
// one-row UPDATE (RecordLogin) alone ("Plain") and with its record in
// one transaction ("Audited": transaction, chain lock, head read, insert,
// head update), on both engines.
func BenchmarkChange(b *testing.B) {
	for name, open := range engines {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			st := open(b)
			u := &gateway.User{Email: "bench@example.com", Role: gateway.RoleViewer, Active: true}
			if err := st.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
			svc, _ := audit.New(audit.Options{Store: st})
			b.Run("Plain", func(b *testing.B) {
				for b.Loop() {
					if err := st.RecordLogin(ctx, u.ID, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Audited", func(b *testing.B) {
				for b.Loop() {
					if err := svc.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
						return []gateway.AuditEvent{{Action: gateway.AuditLogin, Target: &gateway.AuditRef{Type: "user", ID: u.ID}}},
							st.RecordLogin(ctx, u.ID, time.Now())
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
