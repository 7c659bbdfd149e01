package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// recorder remembers the status a handler wrote. It is pooled, and unwraps
// to the real writer so http.ResponseController can flush it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	// body is the request body's read deadline, nil when none is set.
	body *deadlineBody
	// discard drops the handler's writes once a 408 replaced its answer.
	discard bool
	// req is the request being answered (for WriteError).
	req *http.Request
	// principal is who the request acts as, once authenticated (for the
	// access log).
	principal *gateway.Principal
}

// start records the status of the response's first write. After a body
// read timeout it answers 408 request_timeout instead of whatever the
// handler (which saw a read error) wanted to say, and drops its writes.
func (rw *recorder) start(code int) {
	if rw.wrote {
		return
	}
	rw.status, rw.wrote = code, true
	if rw.body == nil {
		return
	}
	if rw.body.timedOut.Load() {
		rw.discard = true
		rw.status = http.StatusRequestTimeout
		for k := range rw.Header() {
			if k != "X-Request-Id" {
				rw.Header().Del(k)
			}
		}
		rw.Header().Set("Connection", "close")
		WriteError(rw.ResponseWriter, rw.req, nil, errRequestTimeout)
		return
	}
	rw.body.lift() // the response starts: a stream must not be cut
}

func (rw *recorder) WriteHeader(code int) {
	if rw.start(code); rw.discard {
		return
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.start(http.StatusOK); rw.discard {
		return len(b), nil
	}
	return rw.ResponseWriter.Write(b)
}

// Flush lets handlers that assert http.Flusher flush through the recorder.
func (rw *recorder) Flush() {
	if rw.start(http.StatusOK); rw.discard {
		return
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
}

// errRequestTimeout is the answer to a request whose body did not arrive
// within server.read_timeout: 408, type invalid_request_error.
var errRequestTimeout = &gateway.Error{Kind: gateway.KindInvalid, Status: http.StatusRequestTimeout,
	Code: "request_timeout", Message: "the request body was not received in time"}

// deadlineBody is a request body read under a connection read deadline
// (server.read_timeout). The deadline is lifted when the body ends (as
// net/http also does when it starts its background read) or the response
// starts, so a handler that streams before it has read the whole body is
// not cut either. Requests without a body get no deadline: net/http's
// background read starts before the handler and a deadline firing there
// would cancel the request's context in the middle of a long stream.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	once     sync.Once
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			b.timedOut.Store(true)
		} else {
			b.lift()
		}
	}
	return n, err
}

func (b *deadlineBody) lift() {
	b.once.Do(func() { _ = b.rc.SetReadDeadline(time.Time{}) })
}

// Unwrap returns the underlying writer for http.ResponseController.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// Written reports whether the response has started; handlers that stream
// use it to decide between an error envelope and an in-band error.
func Written(w http.ResponseWriter) bool {
	if rec, ok := w.(*recorder); ok {
		return rec.wrote
	}
	return false
}

var recorderPool = sync.Pool{New: func() any { return new(recorder) }}

type requestIDKey struct{}

// RequestID returns the request's X-Request-Id.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestIDs generates ids as a per-process random prefix and a counter:
// unique without a syscall per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b)}
}

func (g *requestIDs) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 36)
}

// saneRequestID accepts 1–128 characters of [A-Za-z0-9._:-].
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// outer wraps the whole router: request id, panic recovery, body limit and
// the status recorder.
func (s *Server) outer(next http.Handler) http.Handler {
	ids := s.ids
	max := s.opt.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = ids.next()
		}
		h := w.Header()
		h.Set("X-Request-Id", id)
		// Every response: no MIME sniffing (also /metrics, /openapi.json).
		h.Set("X-Content-Type-Options", "nosniff")
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))

		rec := recorderPool.Get().(*recorder)
		*rec = recorder{ResponseWriter: w, req: r}
		defer func() {
			rec.ResponseWriter, rec.req, rec.principal = nil, nil, nil
			recorderPool.Put(rec)
		}()
		defer s.recoverPanic(rec, r)

		if ep := r.URL.EscapedPath(); r.Method == http.MethodConnect || cleanPath(ep) != ep {
			// ServeMux would redirect (plain text) to the cleaned path;
			// no route lives at an unclean path, so it is not found.
			WriteError(rec, r, s.log, gateway.NotFound("not_found",
				"no route for "+r.Method+" "+ep+" (paths have no empty, . or .. segments)"))
			return
		}
		if r.ContentLength > max {
			WriteError(rec, r, s.log, errTooLarge(max))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			if s.opt.ReadTimeout > 0 {
				rc := http.NewResponseController(w)
				if rc.SetReadDeadline(time.Now().Add(s.opt.ReadTimeout)) == nil {
					rec.body = &deadlineBody{ReadCloser: r.Body, rc: rc}
					r.Body = rec.body
				}
			}
			r.Body = http.MaxBytesReader(rec, r.Body, max)
		}
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) recoverPanic(rec *recorder, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v)
	}
	s.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "route", r.Pattern,
		"request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	if !rec.wrote {
		WriteError(rec, r, nil, gateway.Internal("panic", fmt.Errorf("%v", v)))
		return
	}
	// The response already started: abort the connection so the client
	// sees a failure rather than a truncated success.
	panic(http.ErrAbortHandler)
}

// cleanPath is ServeMux's canonical form of a path (net/http's cleanPath):
// rooted, no empty, . or .. segments, a trailing slash kept. ServeMux
// redirects every request whose path differs from it; outer answers 404
// instead.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		np += "/"
	}
	return np
}
