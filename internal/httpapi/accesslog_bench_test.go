package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate/tollgate/internal/httpapi"
)

// BenchmarkAccessLog measures a request through the full handler chain
// with the access log off, as JSON and as text (to io.Discard: the
// formatting cost; the write to stderr adds one write(2) per line).
func BenchmarkAccessLog(b *testing.B) {
	for _, bc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"Off", nil},
		{"JSON", slog.New(slog.NewJSONHandler(io.Discard, nil)).With("log", "access")},
		{"Text", slog.New(slog.NewTextHandler(io.Discard, nil)).With("log", "access")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := httpapi.New(httpapi.Options{AccessLog: bc.log})
			s.Handle(httpapi.Route{Method: "GET", Path: "/bench", Access: httpapi.Public, OperationID: "bench",
				Handler: func(w http.ResponseWriter, r *http.Request) error {
					w.WriteHeader(http.StatusNoContent)
					return nil
				}})
			h := s.Handler()
			req := httptest.NewRequest("GET", "/bench", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
			}
		})
	}
}
