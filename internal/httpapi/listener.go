package httpapi

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Listener wraps ln for the server's http.Server. It does two things:
//
//   - It answers in the SPEC envelope where net/http answers before any
//     handler runs, in plain text: 400 (malformed request line or header,
//     missing Host), 431 (headers over http.Server.MaxHeaderBytes), 501
//     (unknown Transfer-Encoding), 505 (unsupported HTTP version) and 417
//     (an Expect other than 100-continue). net/http has no hook for these:
//     it writes them straight to the connection (server.go, conn.serve), so
//     the connection recognises those exact writes (see netHTTPAnswer) and
//     replaces them with the envelope rendered by WriteError.
//   - With maxConns > 0 it caps open connections: beyond maxConns, Accept
//     waits until one closes (like golang.org/x/net/netutil.LimitListener,
//     whose connections hide TCPConn.CloseWrite and so disable net/http's
//     lingering close after a 431, which lets the kernel reset the
//     connection before the client has read the answer).
func (s *Server) Listener(ln net.Listener, maxConns int) net.Listener {
	l := &listener{Listener: ln, s: s, done: make(chan struct{})}
	if maxConns > 0 {
		l.sem = make(chan struct{}, maxConns)
	}
	return l
}

type listener struct {
	net.Listener
	s         *Server
	sem       chan struct{} // nil: no cap
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.sem != nil {
			<-l.sem
		}
		return nil, err
	}
	return &conn{Conn: c, l: l}, nil
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type conn struct {
	net.Conn
	l           *listener
	releaseOnce sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.l.sem != nil {
		c.releaseOnce.Do(func() { <-c.l.sem })
	}
	return err
}

// CloseWrite half-closes a TCP connection: net/http calls it before its
// lingering close after a 431.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *conn) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		if ge := netHTTPAnswer(p); ge != nil {
			if err := c.l.s.writeConnAnswer(c.Conn, ge); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// netHTTPErrorHeaders are the headers of every answer net/http writes
// itself when it cannot read a request (server.go, conn.serve).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// netHTTPAnswer recognises a write of net/http's own plain-text answers and
// returns the error to answer instead, or nil. Only the exact forms net/http
// writes match: a status line, netHTTPErrorHeaders and a one-line body, in
// one write (no Date, no X-Request-Id: a response a handler wrote always has
// both), or 417 without X-Request-Id (net/http's answer to an unknown
// Expect, which no handler runs for).
func netHTTPAnswer(p []byte) *gateway.Error {
	rest := p[len("HTTP/1.1 "):]
	line, after, ok := bytes.Cut(rest, []byte("\r\n"))
	if !ok || len(line) < 4 || line[3] != ' ' {
		return nil
	}
	code, err := strconv.Atoi(string(line[:3]))
	if err != nil {
		return nil
	}
	if code == http.StatusExpectationFailed {
		head, body, ok := bytes.Cut(after, []byte("\r\n\r\n"))
		if !ok || len(body) != 0 || bytes.Contains(head, []byte("X-Request-Id:")) {
			return nil
		}
		return newGatewayError(code, "expectation_failed", "only Expect: 100-continue is supported")
	}
	body, ok := bytes.CutPrefix(p[len("HTTP/1.1 ")+len(line):], []byte(netHTTPErrorHeaders))
	if !ok || bytes.ContainsAny(body, "\r\n") {
		return nil
	}
	switch {
	case code == http.StatusRequestHeaderFieldsTooLarge && string(body) == "431 Request Header Fields Too Large":
		return newGatewayError(code, "headers_too_large", "the request headers are larger than the server accepts")
	case code == http.StatusNotImplemented && string(body) == "Unsupported transfer encoding":
		return newGatewayError(code, "unsupported_transfer_encoding", "unsupported Transfer-Encoding")
	case string(body) != string(line):
		return nil
	case code == http.StatusHTTPVersionNotSupported:
		return newGatewayError(code, "http_version_not_supported", "unsupported HTTP version; use HTTP/1.1")
	case code >= 400 && code < 500:
		msg := "malformed HTTP request"
		if _, detail, ok := strings.Cut(string(line), ": "); ok {
			msg += ": " + detail // net/http's own fixed text, e.g. "missing required Host header"
		}
		return newGatewayError(code, "malformed_request", msg)
	}
	return nil
}

// newGatewayError is an invalid_request_error with a status of its own.
func newGatewayError(status int, code, message string) *gateway.Error {
	return &gateway.Error{Kind: gateway.KindInvalid, Status: status, Code: code, Message: message}
}

// bufferedResponse is a ResponseWriter that keeps the answer in memory, so
// WriteError can render an answer that is then written to a connection.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }

// writeConnAnswer writes ge to w as a complete HTTP/1.1 response that
// closes the connection, rendered by WriteError.
func (s *Server) writeConnAnswer(w io.Writer, ge *gateway.Error) error {
	rw := &bufferedResponse{header: http.Header{}}
	rw.header.Set("X-Request-Id", s.ids.next())
	r := (&http.Request{}).WithContext(context.Background())
	WriteError(rw, r, nil, ge)
	resp := &http.Response{StatusCode: rw.status, ProtoMajor: 1, ProtoMinor: 1, Header: rw.header,
		Body: io.NopCloser(&rw.body), ContentLength: int64(rw.body.Len()), Close: true}
	var buf bytes.Buffer
	if err := resp.Write(&buf); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
