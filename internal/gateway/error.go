// Package gateway holds Tollgate's domain: identities, roles, principals, the
// store interfaces and the error type every layer returns. It imports only the
// standard library.
package gateway

import (
	"context"
	"errors"
	"fmt"
)

// Kind classifies an Error; the HTTP layer maps each Kind to one status code.
type Kind uint8

// The error kinds. Their HTTP statuses are fixed by SPEC.md section 1.
const (
	KindInternal         Kind = iota // 500 server_error
	KindInvalid                      // 400 invalid_request_error
	KindUnauthenticated              // 401 authentication_error
	KindPermission                   // 403 permission_error
	KindNotFound                     // 404 not_found_error
	KindMethodNotAllowed             // 405 invalid_request_error
	KindConflict                     // 409 conflict_error
	KindTooLarge                     // 413 invalid_request_error
	KindUnsupportedMedia             // 415 invalid_request_error
	KindRateLimited                  // 429 rate_limit_error
	KindUpstream                     // 502 (or the upstream's own 4xx) upstream_error
	KindUnavailable                  // 503 unavailable_error
	KindUpstreamTimeout              // 504 upstream_error
)

// Error is the one error type that crosses layers. Code is the stable
// snake_case code of SPEC.md section 1; Message is safe to show to a client;
// Param names the offending input ("body.email", "headers.x-end-user-id");
// Err is the cause, which is logged and never rendered.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Param   string
	// Status overrides the Kind's status where the SPEC passes a status
	// through (an upstream's own 4xx). Zero means "the Kind's status".
	Status int
	// RetryAfter is set on rate-limit errors, in whole seconds.
	RetryAfter int
	Err        error
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an Error of the given kind and code.
func E(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Invalid is a 400 error naming the offending parameter.
func Invalid(code, param, message string) *Error {
	return &Error{Kind: KindInvalid, Code: code, Param: param, Message: message}
}

// NotFound is a 404 error with the given code ("not_found", "conversation_not_found", ...).
func NotFound(code, message string) *Error {
	return &Error{Kind: KindNotFound, Code: code, Message: message}
}

// Internal wraps an unexpected cause as a 500 whose message says nothing of it.
func Internal(op string, err error) *Error {
	return &Error{Kind: KindInternal, Code: "internal_error", Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

// ErrNotFound is returned by stores for a missing row; callers turn it into a
// NotFound Error with the code their route needs.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by stores when a unique constraint is violated.
var ErrConflict = errors.New("conflict")

// ErrUnavailable marks a cause that means the database (or another
// dependency every route needs) is down or too slow: the store wraps its
// driver's connection and deadline errors in it, and ToWire renders any
// error that wraps it, classified or not, as 503 not_ready with
// Retry-After (UnavailableError).
var ErrUnavailable = errors.New("dependency unavailable")

// UnavailableRetryAfter is the Retry-After, in seconds, of UnavailableError.
const UnavailableRetryAfter = 2

// UnavailableError is the 503 not_ready answer to a request that needed
// the database while it was down, too slow, or while the credential
// cache could not be kept in sync with it (auth.cache_max_staleness).
// cause is logged, never rendered.
func UnavailableError(cause error) *Error {
	if !errors.Is(cause, ErrUnavailable) {
		cause = fmt.Errorf("%w: %w", ErrUnavailable, cause)
	}
	return &Error{Kind: KindUnavailable, Code: "not_ready", Message: "The database is unavailable; retry shortly.",
		RetryAfter: UnavailableRetryAfter, Err: cause}
}

// AsError returns err as *Error if it is (or wraps) one.
func AsError(err error) (*Error, bool) {
	var ge *Error
	if errors.As(err, &ge) {
		return ge, true
	}
	return nil, false
}

// ErrShuttingDown is the cause with which the server cancels the contexts
// of the requests still running when its shutdown deadline passes. Code
// that sees its context end checks ShuttingDown to answer
// server_shutting_down (and keep what it has) instead of treating the
// request as abandoned by its client.
var ErrShuttingDown = errors.New("server shutting down")

// ShuttingDown reports whether ctx ended because the server is shutting
// down.
func ShuttingDown(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrShuttingDown)
}

// ShutdownError is the 503 server_shutting_down error of a request cut by
// the server's shutdown (SPEC 8).
func ShutdownError() *Error {
	return &Error{Kind: KindUnavailable, Code: "server_shutting_down",
		Message: "The server is shutting down; retry the request.", RetryAfter: 1, Err: ErrShuttingDown}
}
