package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// PolicyProvider hands out the policies in force; *Resolver is one.
type PolicyProvider interface {
	Policies() *Policies
}

// EnforcerOptions configure an Enforcer.
type EnforcerOptions struct {
	Limiter  Limiter
	Policies PolicyProvider
	// TrustedProxies are the peers whose X-Forwarded-For CheckHTTP believes
	// (server.trusted_proxies, see ParseTrustedProxies).
	TrustedProxies []netip.Prefix
	// Metrics counts decisions; nil counts nothing.
	Metrics *Metrics
}

// Enforcer applies the policies to requests: it is what the HTTP
// middleware calls.
type Enforcer struct {
	lim     Limiter
	pol     PolicyProvider
	trusted []netip.Prefix
	metrics *Metrics
}

// NewEnforcer returns an Enforcer.
func NewEnforcer(opt EnforcerOptions) *Enforcer {
	return &Enforcer{lim: opt.Limiter, pol: opt.Policies, trusted: opt.TrustedProxies, metrics: opt.Metrics}
}

// Request is what a decision needs to know about a request.
type Request struct {
	// Principal is the authenticated principal, nil for anonymous requests.
	Principal *gateway.Principal
	// ClientIP is the subject of requests without an identity.
	ClientIP netip.Addr
	// Route is the matched ServeMux pattern ("POST /v1/chat/completions").
	Route string
}

// Bucket is one bucket a decision evaluated.
type Bucket struct {
	Name   string // unique within the decision; the name in the RateLimit headers
	Policy string // the policy's name
	Tokens bool   // a tokens-per-minute budget rather than a request bucket
	Result Result
}

// Decision is the outcome of Check: the buckets evaluated (for the
// headers).
type Decision struct {
	Subject string // "key:<id>[:<end user>]", "user:<id>", "static:<name>" or "ip:<addr>"
	Policy  string // the name of the subject's policy
	Allowed bool
	// RetryAfter is set when refused.
	RetryAfter time.Duration
	Buckets    []Bucket
}

type bucketSpec struct {
	name, policy, key string
	limit             Limit
	tokens            bool
}

// CheckHTTP is Check for an http.Request after authentication and
// routing: the principal comes from the context (gateway.PrincipalFrom),
// the client IP from ClientIP with the trusted proxies, the route from
// r.Pattern.
func (e *Enforcer) CheckHTTP(r *http.Request) (*Decision, error) {
	return e.Check(r.Context(), Request{
		Principal: gateway.PrincipalFrom(r.Context()),
		ClientIP:  ClientIP(r, e.trusted),
		Route:     r.Pattern,
	})
}

// Check decides a request. Token budgets are checked first and refuse the
// request while empty (nothing is charged until ChargeTokens); then the
// route bucket and the subject bucket each take one request. The returned
// Decision is never nil when err is a refusal, so its headers can be set.
//
// A refusal is a *gateway.Error of KindRateLimited with code
// quota_exceeded (a token budget is empty) or rate_limit_exceeded, and
// RetryAfter in whole seconds (at least 1). A limiter failure is a
// KindInternal error with a nil Decision.
func (e *Enforcer) Check(ctx context.Context, req Request) (*Decision, error) {
	p := e.prepare(req)
	results, err := Decide(ctx, e.lim, p.calls)
	if err != nil {
		return nil, gateway.Internal("rate limit", err)
	}
	return p.resolve(results)
}

// prepared is a request's buckets, not yet decided.
type prepared struct {
	e     *Enforcer
	d     *Decision
	specs []bucketSpec
	calls []Call
}

// prepare lists req's buckets and the calls that decide them: token
// budgets (first in specs, see bucketsFor) are peeked, request buckets
// taken, all or nothing, in one decision (one Redis round trip).
func (e *Enforcer) prepare(req Request) *prepared {
	ps := e.pol.Policies()
	subject := ""
	if req.Principal != nil {
		subject = req.Principal.Subject()
	}
	if subject == "" {
		subject = "ip:unknown"
		if req.ClientIP.IsValid() {
			subject = "ip:" + req.ClientIP.String()
		}
	}
	pol := ps.For(req.Principal)
	specs := bucketsFor(subject, pol, req.Route, ps, req.Principal)
	p := &prepared{e: e, specs: specs, calls: make([]Call, len(specs)),
		d: &Decision{Subject: subject, Policy: pol.Name, Allowed: true, Buckets: make([]Bucket, 0, len(specs))}}
	for i, b := range specs {
		p.calls[i] = Call{Key: b.key, Limit: b.limit, Peek: b.tokens}
	}
	return p
}

// resolve turns the results of p's calls (up to the first refusal) into
// the decision, counting each bucket's outcome.
func (p *prepared) resolve(results []Result) (*Decision, error) {
	d := p.d
	for i, res := range results {
		b := p.specs[i]
		d.record(b, res)
		p.e.metrics.observe(b, res.Allowed)
		switch {
		case res.Allowed:
		case b.tokens:
			return d, d.refuse("quota_exceeded", "Token budget exceeded")
		default:
			return d, d.refuse("rate_limit_exceeded", "Rate limit exceeded")
		}
	}
	return d, nil
}

// CheckLogin decides a login attempt against the login limiter of SPEC
// section 2.7: perMinute attempts per minute (auth.login_rate_per_minute)
// per client IP, burst perMinute, in a bucket of its own that every
// attempt, successful or not, consumes. Refusals are as for Check.
func (e *Enforcer) CheckLogin(ctx context.Context, ip netip.Addr, perMinute int) (*Decision, error) {
	return e.CheckAttempt(ctx, "login", ip, perMinute, "Too many login attempts")
}

// CheckAttempt decides an anonymous attempt of kind name ("login",
// "register") against a per-client-IP bucket of its own: perMinute per
// minute, burst perMinute. Every attempt consumes one; a refusal is 429
// rate_limit_exceeded with message and Retry-After, as for Check.
func (e *Enforcer) CheckAttempt(ctx context.Context, name string, ip netip.Addr, perMinute int, message string) (*Decision, error) {
	subject := "ip:unknown"
	if ip.IsValid() {
		subject = "ip:" + ip.String()
	}
	b := bucketSpec{name: name, policy: name, key: name + "|" + subject, limit: PerMinute(perMinute, perMinute)}
	d := &Decision{Subject: subject, Policy: name, Allowed: true}
	res, err := e.lim.Allow(ctx, b.key, b.limit, 1)
	if err != nil {
		return nil, gateway.Internal(name+" rate limit", err)
	}
	d.record(b, res)
	e.metrics.observe(b, res.Allowed)
	if !res.Allowed {
		return d, d.refuse("rate_limit_exceeded", message)
	}
	return d, nil
}

// ChargeTokens charges the tokens a completion used (prompt plus
// completion) to the token budgets of a request by p on route (the matched
// ServeMux pattern, as in Request.Route): the same budgets Check peeks for
// that principal and route, under the policies in force now. It charges
// even past the budget: the subject is then refused until the debt has
// drained. A nil principal or one without a subject (anonymous: routes
// that run completions all require a credential) charges nothing. A
// limiter failure is returned wrapped.
func (e *Enforcer) ChargeTokens(ctx context.Context, p *gateway.Principal, route string, tokens int64) error {
	if p == nil || tokens <= 0 {
		return nil
	}
	subject := p.Subject()
	if subject == "" {
		return nil
	}
	ps := e.pol.Policies()
	for _, b := range bucketsFor(subject, ps.For(p), route, ps, p) {
		if !b.tokens {
			break // token budgets come first
		}
		if _, err := e.lim.Charge(ctx, b.key, b.limit, int(tokens)); err != nil {
			return fmt.Errorf("charge tokens: %w", err)
		}
	}
	return nil
}

// Bucket names of a key owner's buckets (unless a policy of the request
// already uses the name).
const (
	ownerName       = "owner"
	ownerTokensName = "owner-tokens"
)

// bucketsFor lists the buckets of a request, token budgets first (Check
// relies on it): the key owner's token budget, the subject's, the route's;
// then the route bucket, the subject bucket and the key owner's bucket.
//
// A request made with a key also consumes its owner's user:<id> buckets
// (SPEC 5: minting keys never raises what one user may send), under
// exactly the keys and the policy (ForUser) of the owner's own login. App
// credentials too: their end users have separate key:<id>:<end user>
// buckets, and the owner's policy caps them all together.
func bucketsFor(subject string, pol gateway.RateLimitPolicy, route string, ps *Policies, p *gateway.Principal) []bucketSpec {
	rp, hasRoute := ps.Route(route)
	var op gateway.RateLimitPolicy
	owner := p != nil && p.KeyID != "" && p.UserID != ""
	if owner {
		role := p.OwnerRole
		if role == gateway.RoleNone {
			role = p.Role
		}
		op = ps.ForUser(p.UserID, role)
	}
	specs := make([]bucketSpec, 0, 6)
	if owner && op.TokensPerMinute > 0 {
		specs = append(specs, bucketSpec{name: uniqueName(ownerTokensName, pol, rp), policy: op.Name, key: "tk|user:" + p.UserID,
			limit: PerMinute(op.TokensPerMinute, op.TokensPerMinute), tokens: true})
	}
	if pol.TokensPerMinute > 0 {
		specs = append(specs, bucketSpec{name: pol.Name + "-tokens", policy: pol.Name, key: "tk|" + subject,
			limit: PerMinute(pol.TokensPerMinute, pol.TokensPerMinute), tokens: true})
	}
	routeName := rp.Name
	if hasRoute {
		if routeName == pol.Name {
			routeName += "-route"
		}
		if rp.TokensPerMinute > 0 {
			specs = append(specs, bucketSpec{name: routeName + "-tokens", policy: rp.Name, key: "rtk|" + route + "|" + subject,
				limit: PerMinute(rp.TokensPerMinute, rp.TokensPerMinute), tokens: true})
		}
		specs = append(specs, bucketSpec{name: routeName, policy: rp.Name, key: "rt|" + route + "|" + subject,
			limit: PerMinute(rp.RequestsPerMinute, rp.Burst)})
	}
	specs = append(specs, bucketSpec{name: pol.Name, policy: pol.Name, key: "rq|" + pol.Name + "|" + subject,
		limit: PerMinute(pol.RequestsPerMinute, pol.Burst)})
	if owner {
		specs = append(specs, bucketSpec{name: uniqueName(ownerName, pol, rp), policy: op.Name, key: "rq|" + op.Name + "|user:" + p.UserID,
			limit: PerMinute(op.RequestsPerMinute, op.Burst)})
	}
	return specs
}

// uniqueName returns name, or name + "-user" when a policy of the request
// is itself named "owner" or "owner-tokens" (bucket names are unique
// within a decision).
func uniqueName(name string, pol, rp gateway.RateLimitPolicy) string {
	for _, n := range [...]string{pol.Name, rp.Name} {
		if n == ownerName || n == ownerTokensName {
			return name + "-user"
		}
	}
	return name
}

func (d *Decision) record(b bucketSpec, res Result) {
	d.Buckets = append(d.Buckets, Bucket{Name: b.name, Policy: b.policy, Tokens: b.tokens, Result: res})
}

func (d *Decision) refuse(code, msg string) error {
	d.Allowed = false
	d.RetryAfter = d.Buckets[len(d.Buckets)-1].Result.RetryAfter
	secs := RetryAfterSeconds(d.RetryAfter)
	return &gateway.Error{
		Kind:       gateway.KindRateLimited,
		Code:       code,
		Message:    fmt.Sprintf("%s; retry after %d seconds", msg, secs),
		RetryAfter: secs,
	}
}

// RetryAfterSeconds rounds a wait up to whole seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, ceilSeconds(d))
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}
