package httpapi

import (
	"io"
	"math/bits"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/tollgate/tollgate/internal/proxy"
)

// The proxied routes (/v1) read request bodies into pooled buffers, so a
// stream of large bodies does not allocate (and the collector does not
// scan and clear) a new buffer for each. Buffers come in power-of-two
// size classes from minPooledBody to maxPooledBody; a larger body gets a
// buffer of its own that is never pooled, so one huge request does not pin
// its memory.
const (
	minPooledBody = 4 << 10
	maxPooledBody = 4 << 20
	bodyClasses   = 11 // minPooledBody << (bodyClasses-1) == maxPooledBody
)

var bodyPools [bodyClasses]sync.Pool

// pooledBody is a request body in a pooled buffer. It is an llm.Retainer:
// the handler holds one reference and every upstream reader of the body
// another (proxy.Meta.Keep), and the last Release returns the buffer to
// its pool, so a transport still sending the body never sees it reused.
type pooledBody struct {
	buf   []byte
	class int // index into bodyPools; -1: not pooled
	refs  atomic.Int32
	probe [1]byte // reads past a full buffer to see whether the body ended
}

// getBody returns a body buffer of at least n bytes (empty, one
// reference held).
func getBody(n int) *pooledBody {
	var b *pooledBody
	if n > maxPooledBody {
		b = &pooledBody{buf: make([]byte, 0, n), class: -1}
	} else {
		class := 0
		if n > minPooledBody {
			class = bits.Len(uint(n-1)) - bits.Len(minPooledBody-1)
		}
		if v := bodyPools[class].Get(); v != nil {
			b = v.(*pooledBody)
		} else {
			b = &pooledBody{buf: make([]byte, 0, minPooledBody<<class), class: class}
		}
	}
	b.buf = b.buf[:0]
	b.refs.Store(1)
	return b
}

// Retain adds a holder.
func (b *pooledBody) Retain() { b.refs.Add(1) }

// Release drops a holder; the last one returns the buffer to its pool.
func (b *pooledBody) Release() {
	if b.refs.Add(-1) == 0 && b.class >= 0 {
		bodyPools[b.class].Put(b)
	}
}

// readPooledBody reads the whole request body into a pooled buffer,
// with ReadBody's errors (413 body_too_large, 400 invalid_json). The
// caller releases it once nothing reads it any more.
func readPooledBody(r *http.Request) (*pooledBody, error) {
	n := minPooledBody
	if r.ContentLength > 0 {
		n = int(min(r.ContentLength, 1<<30))
	}
	b := getBody(n)
	if r.Body == nil {
		return b, nil
	}
	for {
		if len(b.buf) == cap(b.buf) {
			// Full: the body may have ended without saying so yet.
			k, err := r.Body.Read(b.probe[:])
			if k == 0 && err == io.EOF {
				return b, nil
			}
			if err != nil && err != io.EOF {
				b.Release()
				return nil, readError(err)
			}
			bigger := getBody(2 * cap(b.buf))
			bigger.buf = append(append(bigger.buf, b.buf...), b.probe[:k]...)
			b.Release()
			if b = bigger; err == io.EOF {
				return b, nil
			}
		}
		k, err := r.Body.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+k]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			b.Release()
			return nil, readError(err)
		}
	}
}

// forward is the handler of a proxied route: the JSON body in a pooled
// buffer to px.Forward, which sends the answer to sink.
func forward(px ChatProxy, endpoint string, sink proxy.Sink, w http.ResponseWriter, r *http.Request) error {
	if err := RequireJSON(r); err != nil {
		return err
	}
	body, err := readPooledBody(r)
	if err != nil {
		return err
	}
	defer body.Release()
	meta := proxyMeta(w, r)
	meta.Keep = body
	return px.Forward(r.Context(), endpoint, sink, body.buf, meta)
}
