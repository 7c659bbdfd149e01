package llm_test

import (
	"io"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/tollgate/tollgate/internal/llm"
)

// refs counts holders of a Body's memory.
type refs struct{ n atomic.Int32 }

func (r *refs) Retain()  { r.n.Add(1) }
func (r *refs) Release() { r.n.Add(-1) }

func TestBodyParts(t *testing.T) {
	keep := &refs{}
	b := llm.Body{Parts: [][]byte{[]byte("{\"model\":"), nil, []byte(`"up"`), []byte(`,"x":"é"}`)}, Keep: keep}
	want := `{"model":"up","x":"é"}`
	if b.Len() != len(want) || string(b.Bytes()) != want {
		t.Fatalf("Len %d Bytes %q, want %d %q", b.Len(), b.Bytes(), len(want), want)
	}
	r1, r2 := b.Open(), b.Open()
	if keep.n.Load() != 2 {
		t.Fatalf("holders after two Opens = %d, want 2", keep.n.Load())
	}
	// Every read size, and each reader on its own (GetBody's resend).
	if err := iotest.TestReader(r1, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(iotest.OneByteReader(r2)); err != nil || string(got) != want {
		t.Fatalf("second reader: %q, %v", got, err)
	}
	r1.Close()
	r1.Close()
	if keep.n.Load() != 1 {
		t.Fatalf("holders after closing one reader twice = %d, want 1", keep.n.Load())
	}
	if n, err := r1.Read(make([]byte, 4)); n != 0 || err == nil {
		t.Fatalf("read after Close = %d, %v; want an error", n, err)
	}
	r2.Close()
	if keep.n.Load() != 0 {
		t.Fatalf("holders after closing both = %d, want 0", keep.n.Load())
	}
	if got := llm.BytesBody([]byte("x")).Bytes(); string(got) != "x" {
		t.Fatalf("BytesBody = %q", got)
	}
}
