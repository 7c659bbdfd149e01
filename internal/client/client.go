// Package client is a typed Go client of Tollgate's HTTP API (/api and the
// /v1 routes), used by the CLI and by end-to-end tests. Request
// and response bodies are the exported types of internal/httpapi; every
// error envelope comes back as a *gateway.Error whose Kind is derived from
// the status (Status set to it), with the envelope's Code, Message and
// Param. /v1/chat/completions is covered as a stream of text deltas
// (StreamChatCompletion); its other features are left to OpenAI clients.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

// Client calls one Tollgate server with one credential. It is safe for
// concurrent use; With* methods return modified copies.
type Client struct {
	base   string
	token  string
	hc     *http.Client
	header http.Header
}

// Option configures New.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client of the server at baseURL (e.g. "http://127.0.0.1:8080")
// without a credential.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: http.DefaultClient, header: http.Header{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL is the server's URL without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Token is the credential the client sends ("" for none).
func (c *Client) Token() string { return c.token }

// WithToken returns a copy that sends token (an API key, JWT or static
// token) as "Authorization: Bearer"; "" sends no credential.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// WithHeader returns a copy that adds the header to every request.
func (c *Client) WithHeader(name, value string) *Client {
	cp := *c
	cp.header = c.header.Clone()
	cp.header.Add(name, value)
	return &cp
}

// WithEndUser returns a copy that names the end user an app credential
// acts for, in the default header X-End-User-Id.
func (c *Client) WithEndUser(id string) *Client { return c.WithHeader("X-End-User-Id", id) }

// ListOptions page a list: Limit 0 means the server's default, Cursor ""
// the first page.
type ListOptions struct {
	Limit  int
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	return q
}

// withQuery appends q to path when it is not empty.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// send performs one request, with the given header name, value pairs. A
// non-2xx answer is returned as a *gateway.Error and the body is closed;
// otherwise the caller closes it.
func (c *Client) send(ctx context.Context, method, path string, in any, hdr ...string) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, responseError(resp, b)
	}
	return resp, nil
}

// do performs one request that must answer status (the route's documented
// success; another 2xx is an error too) and decodes the body into out
// (nil: discard).
func (c *Client) do(ctx context.Context, method, path string, in, out any, status int) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := wantStatus(resp, status); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// wantStatus reports a 2xx answer other than the route's documented one.
func wantStatus(resp *http.Response, status int) error {
	if resp.StatusCode != status {
		return fmt.Errorf("%s %s: status %d, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status)
	}
	return nil
}

// get is do for a GET that answers 200 with T.
func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var out T
	err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK)
	return out, err
}

// call is do for a request that answers status with T.
func call[T any](ctx context.Context, c *Client, method, path string, in any, status int) (T, error) {
	var out T
	err := c.do(ctx, method, path, in, &out, status)
	return out, err
}

// responseError turns a non-2xx answer into a *gateway.Error.
func responseError(resp *http.Response, body []byte) error {
	ge, ok := decodeEnvelope(body)
	if !ok {
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		ge = &gateway.Error{Message: msg}
	}
	ge.Kind = KindOf(resp.StatusCode, ge.Kind)
	ge.Status = resp.StatusCode
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		ge.RetryAfter = ra
	}
	return ge
}

// decodeEnvelope reads {"error": {...}}; the Kind is the one the type and
// code imply (the caller refines it with the status when there is one).
func decodeEnvelope(b []byte) (*gateway.Error, bool) {
	var env httpapi.ErrorBody
	if err := json.Unmarshal(b, &env); err != nil || env.Error.Code == "" {
		return nil, false
	}
	ge := &gateway.Error{Kind: kindOfType(env.Error.Type, env.Error.Code), Code: env.Error.Code, Message: env.Error.Message}
	if env.Error.Param != nil {
		ge.Param = *env.Error.Param
	}
	return ge, true
}

var statusKinds = map[int]gateway.Kind{
	http.StatusBadRequest:            gateway.KindInvalid,
	http.StatusUnauthorized:          gateway.KindUnauthenticated,
	http.StatusForbidden:             gateway.KindPermission,
	http.StatusNotFound:              gateway.KindNotFound,
	http.StatusMethodNotAllowed:      gateway.KindMethodNotAllowed,
	http.StatusConflict:              gateway.KindConflict,
	http.StatusRequestEntityTooLarge: gateway.KindTooLarge,
	http.StatusUnsupportedMediaType:  gateway.KindUnsupportedMedia,
	http.StatusTooManyRequests:       gateway.KindRateLimited,
	http.StatusInternalServerError:   gateway.KindInternal,
	http.StatusBadGateway:            gateway.KindUpstream,
	http.StatusServiceUnavailable:    gateway.KindUnavailable,
	http.StatusGatewayTimeout:        gateway.KindUpstreamTimeout,
}

// KindOf is the Kind of an error answered with status: the SPEC's table,
// except that an upstream's own status passed through (fromType is
// KindUpstream, from the envelope's type) stays KindUpstream. A status
// outside the table falls back to fromType.
func KindOf(status int, fromType gateway.Kind) gateway.Kind {
	if fromType == gateway.KindUpstream {
		return gateway.KindUpstream
	}
	if k, ok := statusKinds[status]; ok {
		return k
	}
	return fromType
}

// kindOfType is the Kind an envelope's type and code imply without a
// status (SSE error frames).
func kindOfType(typ, code string) gateway.Kind {
	switch typ {
	case "invalid_request_error":
		switch code {
		case "method_not_allowed":
			return gateway.KindMethodNotAllowed
		case "body_too_large":
			return gateway.KindTooLarge
		case "unsupported_media_type":
			return gateway.KindUnsupportedMedia
		}
		return gateway.KindInvalid
	case "authentication_error":
		return gateway.KindUnauthenticated
	case "permission_error":
		return gateway.KindPermission
	case "not_found_error":
		return gateway.KindNotFound
	case "conflict_error":
		return gateway.KindConflict
	case "rate_limit_error":
		return gateway.KindRateLimited
	case "upstream_error":
		if code == "upstream_timeout" {
			return gateway.KindUpstreamTimeout
		}
		return gateway.KindUpstream
	case "unavailable_error":
		return gateway.KindUnavailable
	}
	return gateway.KindInternal
}

// IsCode reports whether err is a *gateway.Error with the code.
func IsCode(err error, code string) bool {
	var ge *gateway.Error
	return errors.As(err, &ge) && ge.Code == code
}

// Ready calls GET /readyz: nil when the server is ready.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, http.StatusOK)
}

// OpenAPI returns the server's OpenAPI document (GET /openapi.json).
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	return get[json.RawMessage](ctx, c, "/openapi.json")
}

// Models lists the models the server serves (GET /v1/models).
func (c *Client) Models(ctx context.Context) (httpapi.ModelList, error) {
	return get[httpapi.ModelList](ctx, c, "/v1/models")
}

// Info returns the server's version and model routing (GET /v1/info).
func (c *Client) Info(ctx context.Context) (httpapi.InfoResponse, error) {
	return get[httpapi.InfoResponse](ctx, c, "/v1/info")
}
