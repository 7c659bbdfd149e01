package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// The audit actions of SPEC 8.1.
const (
	AuditSetup                = "setup"
	AuditLogin                = "auth.login"
	AuditLoginFailed          = "auth.login_failed"
	AuditLoginFailedDropped   = "auth.login_failed_dropped"
	AuditLogout               = "auth.logout"
	AuditRegister             = "auth.register"
	AuditSessionRevoked       = "auth.session_revoked"
	AuditPasswordChanged      = "auth.password_changed"
	AuditOAuthLogin           = "auth.oauth_login"
	AuditOAuthLinked          = "auth.oauth_linked"
	AuditKeyCreated           = "key.created"
	AuditKeyRevoked           = "key.revoked"
	AuditKeyRotated           = "key.rotated"
	AuditKeyExchanged         = "key.exchanged"
	AuditUserCreated          = "user.created"
	AuditUserRoleChanged      = "user.role_changed"
	AuditUserDeactivated      = "user.deactivated"
	AuditUserActivated        = "user.activated"
	AuditUserDeleted          = "user.deleted"
	AuditRateLimitPolicy      = "rate_limit.policy_changed"
	AuditRateLimitAssignment  = "rate_limit.assignment_changed"
	AuditBudgetChanged        = "budget.changed"
	AuditBudgetAlert          = "budget.alert"
	AuditStaticTokensReloaded = "static_tokens.reloaded"
	AuditAccessDenied         = "access.denied"
	AuditConversationShared   = "conversation.shared"
	AuditParticipantAdded     = "participant.added"
	AuditParticipantRemoved   = "participant.removed"
	AuditInviteCreated        = "invite.created"
	AuditInviteAccepted       = "invite.accepted"
	AuditOutcomeSuccess       = "success"
	AuditOutcomeFailure       = "failure"
	AuditActorUser            = "user"
	AuditActorKey             = "key"
	AuditActorStatic          = "static"
	AuditActorSystem          = "system"
	AuditActorAnonymous       = "anonymous"
	AuditAnchorAction         = "audit.anchor"
)

// AuditRef names an actor or a target.
type AuditRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// AuditEvent is what a caller records: the action, its target, outcome and
// details. Who, from where and under which request id are filled in by the
// audit service from the request.
type AuditEvent struct {
	Action  string
	Target  *AuditRef
	Outcome string // "" means success
	// Actor overrides the request's principal (e.g. the user who just
	// logged in, or "system").
	Actor   *AuditRef
	Details map[string]any
}

// AuditRecord is one stored record of the audit log (SPEC 8.1).
type AuditRecord struct {
	ID        string          `json:"id"`
	Seq       int64           `json:"seq"`
	At        time.Time       `json:"at"`
	Actor     AuditRef        `json:"actor"`
	Action    string          `json:"action"`
	Target    *AuditRef       `json:"target"`
	Outcome   string          `json:"outcome"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"user_agent"`
	RequestID string          `json:"request_id"`
	Details   json.RawMessage `json:"details"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

// AuditFilter selects records; zero fields match everything. Subject, when
// set, selects records whose actor or target id is one of its ids (the
// self view of GET /api/audit).
type AuditFilter struct {
	Action   string
	ActorID  string
	TargetID string
	Outcome  string
	From, To time.Time
	Subject  []string
	// BeforeSeq pages: only records with seq < BeforeSeq (0: from the newest).
	BeforeSeq int64
	Limit     int
}

// AuditBreak names the first record that breaks the hash chain.
type AuditBreak struct {
	Seq    int64
	ID     string
	Reason string
}

// AuditStore stores the hash-chained audit log.
type AuditStore interface {
	// AppendAudit appends records in order, chaining each to the previous
	// one; inside InTx it runs in that transaction. Appends are serialized
	// across instances. It fills ID, Seq, At (when zero), PrevHash and Hash.
	AppendAudit(ctx context.Context, recs []*AuditRecord) error
	// ListAudit returns matching records newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// ScanAudit calls fn for every record oldest first, from seq after.
	ScanAudit(ctx context.Context, after int64, fn func(AuditRecord) error) error
	// VerifyAudit walks the chain; nil when it is intact.
	VerifyAudit(ctx context.Context) (*AuditBreak, error)
	// PruneAudit deletes records older than before, recording the hash of
	// the last deleted one as the chain's anchor; it returns how many.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
	// InTx runs fn in one transaction (see sqlstore.Store.InTx).
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Auditor is the audit service as the rest of the code sees it.
type Auditor interface {
	// Change runs fn in one transaction and appends the events it returns
	// in the same transaction: the change and its records commit together.
	Change(ctx context.Context, fn func(ctx context.Context) ([]AuditEvent, error)) error
	// Record appends one record of a decision that changes nothing
	// (access.denied, key.exchanged, budget.alert, ...).
	Record(ctx context.Context, ev AuditEvent)
	// FailedLogin records a failed login off the request path, bounded per
	// minute.
	FailedLogin(ctx context.Context, email string, details map[string]any)
}

// NopAuditor records nothing; Change still runs fn.
type NopAuditor struct{}

// Change runs fn.
func (NopAuditor) Change(ctx context.Context, fn func(ctx context.Context) ([]AuditEvent, error)) error {
	_, err := fn(ctx)
	return err
}

// Record does nothing.
func (NopAuditor) Record(context.Context, AuditEvent) {}

// FailedLogin does nothing.
func (NopAuditor) FailedLogin(context.Context, string, map[string]any) {}

// RequestMeta is where a request came from, for audit records.
type RequestMeta struct {
	IP        string
	UserAgent string
	RequestID string
}

type requestMetaKey struct{}

// WithRequestMeta returns a context that carries m (set once by the HTTP
// middleware, like the principal).
func WithRequestMeta(ctx context.Context, m RequestMeta) context.Context {
	return context.WithValue(ctx, requestMetaKey{}, m)
}

// RequestMetaFrom returns the request's metadata (zero outside a request).
func RequestMetaFrom(ctx context.Context) RequestMeta {
	m, _ := ctx.Value(requestMetaKey{}).(RequestMeta)
	return m
}

// AuditHash is the chain hash of r: hex SHA-256 of prev (hex) followed by
// the canonical form of r (every field but the hashes, as JSON in a fixed
// order, the time in RFC 3339 UTC with microseconds).
func AuditHash(prev string, r *AuditRecord) string {
	var target AuditRef
	if r.Target != nil {
		target = *r.Target
	}
	details := string(r.Details)
	if details == "" {
		details = "{}"
	}
	canon, _ := json.Marshal([]any{
		r.Seq, r.ID, r.At.UTC().Format("2006-01-02T15:04:05.000000Z"),
		r.Actor.Type, r.Actor.ID, r.Action, target.Type, target.ID, r.Outcome,
		r.IP, r.UserAgent, r.RequestID, details,
	})
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil))
}
