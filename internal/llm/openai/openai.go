// Package openai is the provider for any server that speaks OpenAI's chat
// completions API (vLLM, llama.cpp server, Ollama, OpenAI itself).
//
// Every upstream request is built fresh: only Content-Type, Accept,
// User-Agent, the provider's own Authorization (from the environment
// variable named by api_key_env) and the headers llm.AllowedHeader accepts
// are sent, so a client's credentials and cookies never reach the upstream.
//
// Timeouts: the provider's timeout bounds the wait for response headers
// (http.Transport.ResponseHeaderTimeout) and every wait for more body bytes
// afterwards (an idle timeout), never the whole exchange, so a long stream
// that keeps producing runs as long as it needs. There is no overall
// timeout; the request context (the client's) cancels.
package openai

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// DefaultTimeout applies when a provider's timeout is zero.
const DefaultTimeout = 300 * time.Second

// Options configure a Provider.
type Options struct {
	Name    string
	BaseURL string // e.g. http://127.0.0.1:8000/v1
	APIKey  gateway.Secret
	Timeout time.Duration // 0 means DefaultTimeout
	// Transport overrides the HTTP transport (tests); its timeouts are then
	// the caller's business.
	Transport http.RoundTripper
	// Endpoints the upstream serves; nil means DefaultEndpoints.
	Endpoints []string
	// KeyHeader carries APIKey as is instead of "Authorization: Bearer"
	// (Anthropic's "X-Api-Key").
	KeyHeader string
	// Header is sent with every request (Anthropic's "Anthropic-Version").
	Header http.Header
}

// Header values every request shares (the transport only reads them).
var (
	jsonType  = []string{"application/json"}
	sseType   = []string{"text/event-stream"}
	userAgent = []string{"tollgate"}
)

// DefaultEndpoints are what an OpenAI-compatible server serves: chat
// completions, completions, embeddings and the Responses API.
var DefaultEndpoints = []string{llm.EndpointChat, llm.EndpointCompletions, llm.EndpointEmbeddings, llm.EndpointResponses}

// Provider talks to one OpenAI-compatible server.
type Provider struct {
	name    string
	base    string   // base URL with a trailing slash; endpoints are appended
	authKey string   // canonical header name of auth
	auth    []string // "Bearer ..." (or the bare key under KeyHeader); nil: none
	header  http.Header
	serves  []string
	timeout time.Duration
	// rt sends each request as it is: no http.Client, whose redirect
	// handling (a POST and its Authorization replayed to wherever an
	// upstream points) and per-request header copies the provider does
	// not want. A redirect reaches the proxy as the answer it is.
	rt http.RoundTripper
}

var _ llm.Provider = (*Provider)(nil)

// New returns a provider for opt.BaseURL.
func New(opt Options) *Provider {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rt := opt.Transport
	if rt == nil {
		rt = newTransport(timeout)
	}
	p := &Provider{
		name:    opt.Name,
		base:    strings.TrimSuffix(opt.BaseURL, "/") + "/",
		timeout: timeout,
		// No overall timeout: it would cut long streams. See package doc.
		rt: rt,
	}
	p.authKey, p.header, p.serves = "Authorization", opt.Header, opt.Endpoints
	if p.serves == nil {
		p.serves = DefaultEndpoints
	}
	if opt.APIKey != "" {
		p.auth = []string{"Bearer " + opt.APIKey.Reveal()}
		if opt.KeyHeader != "" {
			p.authKey, p.auth = http.CanonicalHeaderKey(opt.KeyHeader), []string{opt.APIKey.Reveal()}
		}
	}
	return p
}

func newTransport(timeout time.Duration) *http.Transport {
	dialer := &net.Dialer{Timeout: min(10*time.Second, timeout), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
}

// endpoint is the request's endpoint path (chat completions by default);
// a stored response's id is path-escaped.
func endpoint(req *llm.Request) string {
	switch req.Endpoint {
	case llm.EndpointCompletions, llm.EndpointEmbeddings, llm.EndpointMessages:
		return req.Endpoint
	case llm.EndpointResponses:
		if req.ID != "" {
			return req.Endpoint + "/" + url.PathEscape(req.ID)
		}
		return req.Endpoint
	}
	return llm.EndpointChat
}

// Endpoints lists the endpoints the upstream serves.
func (p *Provider) Endpoints() []string { return p.serves }

// Name returns the provider's configured name.
func (p *Provider) Name() string { return p.name }

// CloseIdleConnections releases pooled upstream connections.
func (p *Provider) CloseIdleConnections() {
	if c, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Send posts req.Body to {base_url}/{endpoint} (or GETs or DELETEs a
// stored response, {base_url}/responses/{id}). Errors are
// *llm.TransportError (ErrConnect, ErrTimeout, ErrBroken), or ctx's error
// when the caller went away.
func (p *Provider) Send(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	parent := ctx
	ctx, cancel := context.WithCancelCause(parent)
	method := http.MethodPost
	if req.Method != "" {
		method = req.Method
	}
	hr, err := http.NewRequestWithContext(ctx, method, p.base+endpoint(req), http.NoBody)
	if err != nil {
		cancel(nil)
		return nil, &llm.TransportError{Kind: llm.ErrConnect, Provider: p.name, Err: err}
	}
	h := hr.Header
	if req.Body.Parts != nil {
		h["Content-Type"] = jsonType
		if n := req.Body.Len(); n > 0 {
			// The parts are sent as they are, not copied; the transport
			// closes each body it opened (Open holds req.Body.Keep until
			// then), and GetBody lets it resend a request that never
			// reached a reused connection.
			hr.ContentLength = int64(n)
			hr.Body = req.Body.Open()
			hr.GetBody = func() (io.ReadCloser, error) { return req.Body.Open(), nil }
		}
	}
	if req.Stream {
		h["Accept"] = sseType
	} else {
		h["Accept"] = jsonType
	}
	h["User-Agent"] = userAgent
	for name, vals := range req.Header {
		if llm.AllowedHeader(name) {
			h[http.CanonicalHeaderKey(name)] = vals
		}
	}
	for name, vals := range p.header {
		h[name] = vals
	}
	if p.auth != nil {
		h[p.authKey] = p.auth
	}
	resp, err := p.rt.RoundTrip(hr)
	if err != nil {
		cancel(nil)
		if parentErr := context.Cause(parent); parentErr != nil {
			return nil, parentErr // the caller went away
		}
		return nil, p.classify(err)
	}
	body := newIdleBody(ctx, resp.Body, p.timeout, cancel, p.name)
	return &llm.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// classify turns a transport failure into an *llm.TransportError.
func (p *Provider) classify(err error) error {
	kind := llm.ErrBroken
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.As(err, &dnsErr):
		kind = llm.ErrConnect
	case isTimeout(err):
		kind = llm.ErrTimeout
	}
	return &llm.TransportError{Kind: kind, Provider: p.name, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
