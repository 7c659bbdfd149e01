// Package llm defines how Tollgate talks to LLM backends: the Provider
// interface, the few OpenAI wire types the gateway reads, and SSE reading and
// writing.
//
// A Provider sends an already-prepared request body (the proxy has rewritten
// `model` and injected `stream_options`; see Body) and returns the upstream's status,
// headers and body unread. Keeping the body as bytes in and a reader out
// lets the proxy pass unknown fields through byte for byte and treat every
// provider alike: the echo provider produces the same bytes an OpenAI server
// would, so the proxy's streaming, usage capture and error mapping are the
// same code for both.
//
// Failures to get a response at all are returned as *TransportError, whose
// Kind says whether the upstream was unreachable, slow or broke the
// connection; the proxy maps those to SPEC.md's 503, 504 and 502.
package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Provider is one upstream LLM backend.
type Provider interface {
	// Name is the provider's configured name (metrics, usage, logs).
	Name() string
	// Send posts body to the provider's endpoint (req.Endpoint). A
	// non-nil Response is returned for every HTTP answer, 4xx and 5xx
	// included; the caller must close its Body. Errors before a response
	// are *TransportError, or ctx's error when ctx ended first; a
	// built-in provider (echo) refuses a bad request with a
	// *gateway.Error, which the client gets as it is.
	Send(ctx context.Context, req *Request) (*Response, error)
}

// The endpoints a provider serves, relative to its base URL: OpenAI's
// chat completions, completions, embeddings and Responses API, and
// Anthropic's Messages API.
const (
	EndpointChat        = "chat/completions"
	EndpointCompletions = "completions"
	EndpointEmbeddings  = "embeddings"
	EndpointResponses   = "responses"
	EndpointMessages    = "messages"
)

// ChatEndpoints are the endpoints of a provider that does not say which it
// serves (it implements no EndpointServer).
var ChatEndpoints = []string{EndpointChat, EndpointCompletions, EndpointEmbeddings}

// EndpointServer is implemented by providers that serve other endpoints
// than ChatEndpoints (or fewer).
type EndpointServer interface {
	// Endpoints lists the endpoints the provider serves.
	Endpoints() []string
}

// Endpoints lists the endpoints p serves.
func Endpoints(p Provider) []string {
	if es, ok := p.(EndpointServer); ok {
		return es.Endpoints()
	}
	return ChatEndpoints
}

// Request is what the proxy hands a provider.
type Request struct {
	// Endpoint is one of the Endpoint constants ("" is EndpointChat).
	Endpoint string
	// Method is "" (POST) or GET or DELETE of a stored Responses API
	// object; ID is then that object's id and Body is empty.
	Method string
	ID     string
	// Body is the JSON request body, sent unchanged (no Parts: none).
	Body Body
	// Stream tells the provider to expect an SSE answer.
	Stream bool
	// Header holds client headers the proxy chose to forward; providers
	// copy only the names AllowedHeader accepts.
	Header http.Header
}

// Response is an upstream's answer, body unread.
type Response struct {
	StatusCode int
	Header     http.Header
	// Body must be closed by the caller. Read errors after the upstream
	// stopped answering in time are *TransportError.
	Body io.ReadCloser
}

// ErrorKind classifies a TransportError.
type ErrorKind uint8

// The transport error kinds.
const (
	// ErrConnect: the upstream could not be reached (DNS, refused, dial
	// timeout). Maps to 503 upstream_unavailable.
	ErrConnect ErrorKind = iota + 1
	// ErrTimeout: no response headers, or no body bytes, within the
	// provider's timeout. Maps to 504 upstream_timeout.
	ErrTimeout
	// ErrBroken: the connection failed after it was made. Maps to 502
	// upstream_error.
	ErrBroken
)

func (k ErrorKind) String() string {
	switch k {
	case ErrConnect:
		return "connect"
	case ErrTimeout:
		return "timeout"
	case ErrBroken:
		return "broken"
	}
	return "unknown"
}

// TransportError is a failure to talk to an upstream, as opposed to an
// upstream's HTTP error answer.
type TransportError struct {
	Kind     ErrorKind
	Provider string
	Err      error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("upstream %s: %s: %v", e.Provider, e.Kind, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// TransportKind returns the kind of the TransportError in err's chain, or 0.
func TransportKind(err error) ErrorKind {
	var te *TransportError
	if errors.As(err, &te) {
		return te.Kind
	}
	return 0
}

// AllowedHeader reports whether a client request header may be forwarded
// upstream. Everything else, credentials and cookies above all, is dropped:
// the upstream request is built fresh.
func AllowedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "X-Request-Id", "Traceparent", "Tracestate":
		return true
	}
	return false
}
