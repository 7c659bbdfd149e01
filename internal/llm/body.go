package llm

import (
	"errors"
	"io"
	"sync"
)

// Body is an upstream request body held as the byte slices to send one
// after the other. The proxy builds it from the client's body with a few
// spans replaced (the model's value, stream_options), so that a large body
// goes upstream without being copied.
//
// Keep, when set, is the memory the parts live in, which its owner reuses
// once every holder released it: each reader Open returns holds it until
// it is closed, so a transport that is still sending the body after Send
// returned (an HTTP transport writes from its own goroutine, and closes
// the body when done) never sees it change. Nil means the parts' memory is
// never reused.
type Body struct {
	Parts [][]byte
	Keep  Retainer
}

// Retainer is memory shared by several holders: Retain adds one, Release
// drops one, and after the last Release the owner may reuse it.
type Retainer interface {
	Retain()
	Release()
}

// BytesBody is a Body of one slice whose memory is never reused.
func BytesBody(b []byte) Body { return Body{Parts: [][]byte{b}} }

// Len is the body's size in bytes.
func (b Body) Len() int {
	n := 0
	for _, p := range b.Parts {
		n += len(p)
	}
	return n
}

// Bytes returns the body in one slice: the only part itself, or a copy of
// the parts joined. It is for providers that read the body before Send
// returns (echo); the result must not be kept past that.
func (b Body) Bytes() []byte {
	switch len(b.Parts) {
	case 0:
		return nil
	case 1:
		return b.Parts[0]
	}
	out := make([]byte, 0, b.Len())
	for _, p := range b.Parts {
		out = append(out, p...)
	}
	return out
}

// Open returns a reader of the parts in order. It holds Keep until it is
// closed; Close may be called more than once, and concurrently with Read
// (as http.Transport may), after which Read fails.
func (b Body) Open() io.ReadCloser {
	if b.Keep != nil {
		b.Keep.Retain()
	}
	return &bodyReader{parts: b.Parts, keep: b.Keep}
}

// errBodyClosed is what a Read after Close returns.
var errBodyClosed = errors.New("llm: read of a closed request body")

type bodyReader struct {
	mu        sync.Mutex
	parts     [][]byte
	part, off int // the next byte to read is parts[part][off]
	keep      Retainer
	closed    bool
}

func (r *bodyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errBodyClosed
	}
	n := 0
	for n < len(p) && r.part < len(r.parts) {
		c := copy(p[n:], r.parts[r.part][r.off:])
		n += c
		r.off += c
		if r.off == len(r.parts[r.part]) {
			r.part, r.off = r.part+1, 0
		}
	}
	if n == 0 && r.part == len(r.parts) && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *bodyReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		if r.keep != nil {
			r.keep.Release()
		}
	}
	return nil
}
