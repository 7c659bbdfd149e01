package ratelimit

import (
	"context"
	"net/http"
	"sync"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Deferred is a request's rate-limit decision left to its admission, so
// that a request with shared (Redis) budgets has its rate-limit buckets
// and its budgets decided by one script call (one round trip) instead of
// two. The admitter Takes the calls, runs them with its own, and Resolves
// the results; whatever is still undecided when the request reaches a
// point where it must be decided (CheckNow) is decided on the Enforcer's
// limiter as Check would. It is decided exactly once.
type Deferred struct {
	p      *prepared
	header http.Header

	mu    sync.Mutex
	taken bool
	err   error
}

// Defer prepares r's decision (as CheckHTTP would make it) without
// making it; the headers of the decision go to header when it is made.
func (e *Enforcer) Defer(r *http.Request, header http.Header) *Deferred {
	return &Deferred{header: header, p: e.prepare(Request{
		Principal: gateway.PrincipalFrom(r.Context()),
		ClientIP:  ClientIP(r, e.trusted),
		Route:     r.Pattern,
	})}
}

type deferredKey struct{}

// WithDeferred returns a context carrying d.
func WithDeferred(ctx context.Context, d *Deferred) context.Context {
	return context.WithValue(ctx, deferredKey{}, d)
}

// DeferredFrom returns the request's undecided rate-limit decision, or nil.
func DeferredFrom(ctx context.Context) *Deferred {
	d, _ := ctx.Value(deferredKey{}).(*Deferred)
	return d
}

// Take hands the calls to decide to the caller, who must then Resolve
// their results (or Fail). ok is false when the decision was taken
// already.
func (d *Deferred) Take() (calls []Call, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.taken {
		return nil, false
	}
	d.taken = true
	return d.p.calls, true
}

// Resolve completes a taken decision with the results of its calls (up to
// the first refusal): it sets the rate-limit headers and returns the
// refusal, if any.
func (d *Deferred) Resolve(results []Result) error {
	dec, err := d.p.resolve(results)
	SetHeaders(d.header, dec)
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
	return err
}

// Fail completes a taken decision whose calls could not be run with the
// caller's (its shared store failed): it decides them on the Enforcer's
// limiter, as Check would.
func (d *Deferred) Fail(ctx context.Context) error {
	results, err := Decide(ctx, d.p.e.lim, d.p.calls)
	if err != nil {
		err = gateway.Internal("rate limit", err)
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		return err
	}
	return d.Resolve(results)
}

// CheckNow makes the decision on the Enforcer's limiter unless it was
// taken already, and returns its refusal (a nil d decides nothing).
func (d *Deferred) CheckNow(ctx context.Context) error {
	if d == nil {
		return nil
	}
	if _, ok := d.Take(); !ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.err
	}
	return d.Fail(ctx)
}
