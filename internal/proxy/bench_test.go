package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
)

// discardWriter is a flushable ResponseWriter that throws the body away.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// BenchmarkChatCompletions measures the proxy path (parse, splice, upstream
// round trip to llmtest, relay, usage capture) per request. Run with
// -benchmem: allocations per request must stay flat as b.N grows.
func BenchmarkChatCompletions(b *testing.B) {
	words := strings.Fields(strings.Repeat("token ", 32))
	for i := 1; i < len(words); i++ {
		words[i] = " " + words[i]
	}
	up := llmtest.NewT(b, llmtest.Reply{Words: words})
	px, err := proxy.New(proxy.Options{
		Models: []proxy.Model{{Name: "fast", UpstreamModel: "up",
			Provider: openai.New(openai.Options{Name: "local", BaseURL: up.URL, Timeout: time.Minute})}},
		Usage: discardUsage{},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)
	principal := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u", KeyID: "k"}
	for _, bc := range []struct{ name, body string }{
		{"NonStream", `{"model":"fast","messages":[{"role":"user","content":"hello"}],"temperature":0.2}`},
		{"Stream", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hello"}],"temperature":0.2}`},
		{"Body1MiB", `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}],"temperature":0.2}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				if err := px.ChatCompletions(w, r, body, principal); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discardUsage struct{}

func (discardUsage) Record(gateway.UsageRecord) {}
