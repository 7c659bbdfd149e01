package httpapi_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

func TestReadBodyAllocatesOnce(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("a", 1<<20)
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
	got, err := httpapi.ReadBody(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(body) {
		t.Fatalf("len = %d, want %d", len(got), len(body))
	}
	// A buffer grown after the last byte would be about twice the body;
	// one allocation of ContentLength+MinRead is rounded up to whole pages.
	if c, limit := cap(got), len(body)+bytes.MinRead+16<<10; c > limit {
		t.Fatalf("cap = %d, want at most %d (no growth after reading Content-Length bytes)", c, limit)
	}
}
