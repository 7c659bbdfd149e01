package gateway

import "fmt"

// Role orders what a principal may do: viewer < contributor < admin.
type Role uint8

// The roles, lowest first. RoleNone is the zero value and passes no check.
const (
	RoleNone Role = iota
	RoleViewer
	RoleContributor
	RoleAdmin
)

// String returns the role's SPEC name.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleContributor:
		return "contributor"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole parses a SPEC role name; it returns an error for anything else.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "contributor":
		return RoleContributor, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q (want viewer, contributor or admin)", s)
}

// AtLeast reports whether r passes a check for min.
func (r Role) AtLeast(min Role) bool { return r >= min && r != RoleNone }

// MinRole returns the lower of two roles.
func MinRole(a, b Role) Role {
	if a < b {
		return a
	}
	return b
}

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
