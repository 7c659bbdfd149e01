package conversation

import (
	"context"

	"github.com/tollgate/tollgate/internal/gateway"
)

// audited runs change in one transaction with its audit record (SPEC
// 8.1). Events for subscribers are emitted by the caller afterwards,
// outside the transaction.
func (s *Service) audited(ctx context.Context, change func(ctx context.Context) (gateway.AuditEvent, error)) error {
	return s.audit.Change(ctx, func(ctx context.Context) ([]gateway.AuditEvent, error) {
		ev, err := change(ctx)
		if err != nil {
			return nil, err
		}
		return []gateway.AuditEvent{ev}, nil
	})
}

func convEvent(action, conversationID string, details map[string]any) gateway.AuditEvent {
	return gateway.AuditEvent{Action: action, Target: &gateway.AuditRef{Type: "conversation", ID: conversationID}, Details: details}
}
