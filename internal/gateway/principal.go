package gateway

import "context"

// PrincipalKind says how a request authenticated.
type PrincipalKind uint8

// The kinds of principal.
const (
	PrincipalAnonymous PrincipalKind = iota // no credential (public routes, login limiter)
	PrincipalUser                           // a user's JWT or browser session
	PrincipalKey                            // an API key, or a JWT exchanged for one
	PrincipalStatic                         // a static token from config
	PrincipalLocal                          // auth.mode = open: the built-in local admin
)

// Principal is who a request acts as, resolved once per request by the auth
// layer and read by every handler from the context.
type Principal struct {
	Kind PrincipalKind
	// UserID is the acting user (for a key: its owner). Empty for static
	// tokens and the anonymous principal.
	UserID      string
	Email       string
	DisplayName string
	// Role is the effective role of this request.
	Role Role

	// KeyID, KeyName and KeyPrefix are set for API keys (and JWTs exchanged
	// for one).
	KeyID     string
	KeyName   string
	KeyPrefix string
	KeyRole   Role
	// OwnerRole is the current role of the key's owner (for a user's own
	// login it equals Role). It selects the role policy of the owner's
	// user:<id> rate-limit bucket, which every key of the user shares.
	OwnerRole Role
	// StaticName is the name of a static token.
	StaticName string
	// Exchanged is set when the request used a JWT exchanged for a key or
	// static token (POST /api/auth/token), not the credential itself.
	Exchanged bool

	// SessionID is the public id of the browser session the request
	// authenticated with (never its secret); empty for every other
	// credential.
	SessionID string

	// EndUserMode marks an app credential (SPEC 2.6); EndUserID is the end
	// user named by the request's header, empty for a tenant-wide view.
	EndUserMode bool
	EndUserID   string

	// KeyModels and UserModels are the allowed_models of the key and of
	// the acting user (SPEC 5.1); a model must be in both.
	KeyModels  ModelList
	UserModels ModelList
	// KeyMaxParallel and UserMaxParallel cap the key's and the user's
	// requests in flight (0: no cap).
	KeyMaxParallel  int
	UserMaxParallel int
}

// Owner identifies whose data a request may touch: a user, or an end user
// of an app credential's owner. Store queries filter on both fields.
type Owner struct {
	UserID    string // the owning user (for app credentials: the credential's owner)
	EndUserID string // "" for the user's own data
	// AllEndUsers is set for a tenant-wide (admin app credential) read: every
	// end user of UserID, and the user's own rows are not included.
	AllEndUsers bool
}

// Owner returns the data scope of the principal.
func (p *Principal) Owner() Owner {
	uid := p.UserID
	if uid == "" {
		switch p.Kind {
		case PrincipalStatic:
			uid = "static:" + p.StaticName
		case PrincipalLocal:
			uid = LocalUserID
		}
	}
	if p.EndUserMode {
		return Owner{UserID: uid, EndUserID: p.EndUserID, AllEndUsers: p.EndUserID == ""}
	}
	return Owner{UserID: uid}
}

// LocalUserID is the id of the built-in principal of auth.mode = open.
const LocalUserID = "local"

// Subject returns the rate-limit subject of SPEC section 5 without the IP
// fallback: "key:<id>[:<end user>]", "user:<id>", "static:<name>[:<end
// user>]", or "" when the request has no identity.
func (p *Principal) Subject() string {
	var s string
	switch {
	case p.KeyID != "":
		s = "key:" + p.KeyID
	case p.Kind == PrincipalStatic:
		s = "static:" + p.StaticName
	case p.UserID != "":
		s = "user:" + p.UserID
	default:
		return ""
	}
	if p.EndUserMode && p.EndUserID != "" {
		s += ":" + p.EndUserID
	}
	return s
}

type principalKey struct{}

// WithPrincipal returns a context that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, or nil on a public route.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
