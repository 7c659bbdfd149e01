package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// BenchmarkRoutes compares the three streamed routes over the same
// upstream answer of 32 words (llmtest, each in its API's shape): what the
// Responses and Messages dialects cost per request against chat
// completions, measured in the same run.
func BenchmarkRoutes(b *testing.B) {
	words := strings.Fields(strings.Repeat("token ", 32))
	for i := 1; i < len(words); i++ {
		words[i] = " " + words[i]
	}
	up := llmtest.NewT(b, llmtest.Reply{Words: words})
	// One upstream speaking all three APIs (llmtest does).
	prov := openai.New(openai.Options{Name: "local", BaseURL: up.URL, Timeout: time.Minute,
		Endpoints: []string{llm.EndpointChat, llm.EndpointResponses, llm.EndpointMessages}})
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: "fast", UpstreamModel: "up", Provider: prov}}, Usage: discardUsage{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)
	principal := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u", KeyID: "k"}
	for _, bc := range []struct{ name, endpoint, body string }{
		{"ChatStream", llm.EndpointChat, `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hello"}]}`},
		{"ResponsesStream", llm.EndpointResponses, `{"model":"fast","stream":true,"input":"hello"}`},
		{"MessagesStream", llm.EndpointMessages, `{"model":"fast","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hello"}]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			meta := proxy.Meta{Principal: principal, RequestID: "r", Header: http.Header{"X-Request-Id": {"r"}}}
			b.ReportAllocs()
			for b.Loop() {
				if err := px.Forward(context.Background(), bc.endpoint, &discardSink{}, body, meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResponseIDWriteThrough measures what recording each new
// Responses API id in the store costs a streamed /v1/responses request
// (llmtest upstream, 32 words): no store (memory only) against SQLite and
// PostgreSQL, in the same run.
func BenchmarkResponseIDWriteThrough(b *testing.B) {
	words := strings.Fields(strings.Repeat("token ", 32))
	for i := 1; i < len(words); i++ {
		words[i] = " " + words[i]
	}
	up := llmtest.NewT(b, llmtest.Reply{Words: words})
	prov := openai.New(openai.Options{Name: "local", BaseURL: up.URL, Timeout: time.Minute, Endpoints: []string{llm.EndpointResponses}})
	principal := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u", KeyID: "k"}
	for _, bc := range []struct {
		name  string
		store func(b *testing.B) gateway.ResponseIDStore
	}{
		{"Memory", func(*testing.B) gateway.ResponseIDStore { return nil }},
		{"SQLite", func(b *testing.B) gateway.ResponseIDStore { return sqltest.SQLite(b) }},
		{"Postgres", func(b *testing.B) gateway.ResponseIDStore { return sqltest.Postgres(b) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			px, err := proxy.New(proxy.Options{Models: []proxy.Model{{Name: "fast", UpstreamModel: "up", Provider: prov}},
				Usage: discardUsage{}, ResponseIDs: bc.store(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(px.Close)
			body := []byte(`{"model":"fast","stream":true,"input":"hello"}`)
			meta := proxy.Meta{Principal: principal, RequestID: "r", Header: http.Header{"X-Request-Id": {"r"}}}
			b.ReportAllocs()
			for b.Loop() {
				if err := px.Forward(context.Background(), llm.EndpointResponses, &discardSink{}, body, meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
