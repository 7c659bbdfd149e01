package gateway

import "strings"

// ChangeKind names what a Change is about.
type ChangeKind string

// The changes every instance's caches must hear about at once.
const (
	ChangeKey    ChangeKind = "key"    // an API key revoked, rotated or edited
	ChangeUser   ChangeKind = "user"   // a user's role, state, models, password or logout watermark
	ChangePolicy ChangeKind = "policy" // a rate-limit policy or assignment
)

// Change is one committed change of a credential or policy, pushed to
// every instance (PostgreSQL NOTIFY or Redis pub/sub) so their caches drop
// what it makes wrong. ID is the key's or user's id ("" for policies).
type Change struct {
	Kind ChangeKind
	ID   string
}

// String is the wire form: "kind:id".
func (c Change) String() string { return string(c.Kind) + ":" + c.ID }

// ParseChange reads the wire form; ok is false for anything else.
func ParseChange(s string) (Change, bool) {
	kind, id, found := strings.Cut(s, ":")
	switch c := (Change{Kind: ChangeKind(kind), ID: id}); {
	case !found || len(id) > 128:
		return Change{}, false
	case (c.Kind == ChangeKey || c.Kind == ChangeUser) && id != "":
		return c, true
	case c.Kind == ChangePolicy:
		return c, true
	}
	return Change{}, false
}
