package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/tollgate/tollgate/internal/gateway"
)

// recorder remembers the status a handler wrote. It is pooled, and unwraps
// to the real writer so http.ResponseController can flush it.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (rw *recorder) WriteHeader(code int) {
	if !rw.wrote {
		rw.status, rw.wrote = code, true
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.status, rw.wrote = http.StatusOK, true
	}
	return rw.ResponseWriter.Write(b)
}

// Flush lets handlers that assert http.Flusher flush through the recorder.
func (rw *recorder) Flush() {
	if !rw.wrote {
		rw.status, rw.wrote = http.StatusOK, true
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
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
	ids := newRequestIDs()
	max := s.opt.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !saneRequestID(id) {
			id = ids.next()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))

		rec := recorderPool.Get().(*recorder)
		*rec = recorder{ResponseWriter: w}
		defer func() {
			rec.ResponseWriter = nil
			recorderPool.Put(rec)
		}()
		defer s.recoverPanic(rec, r)

		if r.ContentLength > max {
			WriteError(rec, r, s.log, errTooLarge(max))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
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
