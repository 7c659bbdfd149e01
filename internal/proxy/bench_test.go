package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// discardSink copies every event's bytes as /v1's sink writes them and
// throws them away.
type discardSink struct{ buf []byte }

func (d *discardSink) Begin(proxy.Head) error { return nil }
func (d *discardSink) Event(ev llm.Event) error {
	d.buf = append(d.buf[:0], ev.Raw...)
	return nil
}
func (d *discardSink) Body([]byte) error   { return nil }
func (d *discardSink) Delta(string)        {}
func (d *discardSink) Fail(*gateway.Error) {}

// BenchmarkChatCompletions measures the proxy path (parse, splice, upstream
// round trip to llmtest, relay, usage capture) per request. Run with
// -benchmem: allocations per request must stay flat as b.N grows.
func BenchmarkChatCompletions(b *testing.B) {
	benchChat(b, nil)
}

// BenchmarkChatCompletionsAdmitter is BenchmarkChatCompletions with a
// budget.Service as the proxy's Admitter and no budget matching the
// principal: what admission adds to a request no budget applies to.
func BenchmarkChatCompletionsAdmitter(b *testing.B) {
	benchChat(b, budget.New(budget.Options{Store: sqltest.SQLite(b)}))
}

func benchChat(b *testing.B, adm proxy.Admitter) {
	px, principal := benchProxy(b, adm)
	for _, bc := range []struct{ name, body string }{
		{"NonStream", `{"model":"fast","messages":[{"role":"user","content":"hello"}],"temperature":0.2}`},
		{"Stream", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hello"}],"temperature":0.2}`},
		{"Body1MiB", `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}],"temperature":0.2}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			meta := proxy.Meta{Principal: principal, RequestID: "r", Header: http.Header{"X-Request-Id": {"r"}}}
			b.ReportAllocs()
			for b.Loop() {
				sink := &discardSink{}
				if err := px.ChatCompletions(context.Background(), sink, body, meta); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchProxy is a proxy serving model "fast" from an llmtest upstream
// that answers 32 words, and the key principal the benchmarks call as.
func benchProxy(b *testing.B, adm ...proxy.Admitter) (*proxy.Proxy, *gateway.Principal) {
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
	if len(adm) > 0 && adm[0] != nil {
		px, err = proxy.New(proxy.Options{
			Models: []proxy.Model{{Name: "fast", UpstreamModel: "up",
				Provider: openai.New(openai.Options{Name: "local", BaseURL: up.URL, Timeout: time.Minute})}},
			Usage: discardUsage{}, Admitter: adm[0],
		})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)
	return px, &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u", KeyID: "k"}
}

type discardUsage struct{}

func (discardUsage) Record(gateway.UsageRecord) {}

// BenchmarkCompleteStream measures the conversation path (Complete with a
// delta callback) for an answer of 32 chunks; allocs/op divided by 32 is
// the allocation cost of one streamed conversation chunk.
func BenchmarkCompleteStream(b *testing.B) {
	px, principal := benchProxy(b)
	msgs := []llm.Message{{Role: "user", Content: []byte(`"hello"`)}}
	var n int
	b.ReportAllocs()
	for b.Loop() {
		res, err := px.Complete(context.Background(), proxy.CompleteRequest{Principal: principal, Model: "fast",
			Messages: msgs, RequestID: "r", OnDelta: func(string) { n++ }})
		if err != nil || res.Status != gateway.UsageOK {
			b.Fatal(err, res.Status)
		}
	}
	if n == 0 {
		b.Fatal("no deltas")
	}
}
