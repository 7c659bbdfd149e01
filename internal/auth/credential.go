package auth

import (
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Transport says where a credential came from.
type Transport uint8

// The credential transports of SPEC section 2.
const (
	TransportBearer  Transport = iota + 1 // Authorization: Bearer <t>
	TransportAPIKey                       // X-API-Key: <key>
	TransportSession                      // the tollgate_session cookie
)

// Credential is the one credential a request presented.
type Credential struct {
	Transport Transport
	Value     gateway.Secret
}

// SessionCookie is the name of the browser session cookie;
// SecureSessionCookie its name when server.public_url is https (the
// __Host- prefix: Secure, Path=/, no Domain, so no subdomain can set it).
const (
	SessionCookie       = "tollgate_session"
	SecureSessionCookie = "__Host-" + SessionCookie
)

// queryCredentialParams are query parameters that must never carry a
// credential (they end up in logs and browser history).
var queryCredentialParams = [...]string{"api_key", "access_token", "token", "key"}

// ParseAuthorization parses an Authorization header value of the Bearer
// scheme (case-insensitive, RFC 9110 token68 after one or more spaces). It
// returns ok=false for any other scheme or a malformed value.
func ParseAuthorization(h string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	rest = strings.TrimLeft(rest, " ")
	rest = strings.TrimRight(rest, " ")
	if rest == "" {
		return "", false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=') {
			return "", false
		}
	}
	return rest, true
}

var (
	errMissing   = gateway.E(gateway.KindUnauthenticated, "missing_authorization", "An API key or access token is required")
	errAmbiguous = gateway.Invalid("ambiguous_credentials", "", "The request carries more than one credential; send exactly one")
)

// ExtractCredential finds the request's single credential. It returns
// 400 invalid_field (param query.<name>) for a credential in the query
// string, 400 ambiguous_credentials for two different credentials, 401
// invalid_authorization for a malformed Authorization header and 401
// missing_authorization (nil Credential) when there is none.
func ExtractCredential(r *http.Request) (*Credential, error) {
	return ExtractCredentialCookie(r, SessionCookie)
}

// ExtractCredentialCookie is ExtractCredential with the session cookie
// named cookie (SessionCookie or SecureSessionCookie); other cookies are
// ignored.
func ExtractCredentialCookie(r *http.Request, cookie string) (*Credential, error) {
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, name := range queryCredentialParams {
			if q.Has(name) {
				return nil, gateway.Invalid("invalid_field", "query."+name,
					"credentials must not be sent in the query string; use the Authorization header")
			}
		}
	}
	// The first credential and whether any other differs from it (no
	// slice: this runs on every request).
	var (
		first     Credential
		n         int
		ambiguous bool
	)
	add := func(c Credential) {
		if n == 0 {
			first = c
		} else if c.Value != first.Value {
			ambiguous = true
		}
		n++
	}
	for _, h := range r.Header.Values("Authorization") {
		tok, ok := ParseAuthorization(h)
		if !ok {
			return nil, errInvalidToken
		}
		add(Credential{TransportBearer, gateway.Secret(tok)})
	}
	for _, h := range r.Header.Values("X-Api-Key") { // canonical form: no allocation
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, errInvalidToken
		}
		add(Credential{TransportAPIKey, gateway.Secret(h)})
	}
	for _, c := range r.CookiesNamed(cookie) {
		if c.Value == "" {
			continue
		}
		add(Credential{TransportSession, gateway.Secret(c.Value)})
	}
	if n == 0 {
		return nil, errMissing
	}
	if ambiguous {
		return nil, errAmbiguous
	}
	return &first, nil
}
