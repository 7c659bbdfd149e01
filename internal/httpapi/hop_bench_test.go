package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
	"github.com/tollgate/tollgate/internal/ratelimit"
)

// BenchmarkHop measures one POST /v1/chat/completions over real HTTP on
// loopback, in one process, three ways against the same upstream (a mock
// like bench/'s: it reads the body and answers a fixed completion, so
// that its own cost does not drown the hops'; llmtest decodes every
// body with encoding/json, 10+ ms for 1 MiB): Direct (the client calls the upstream), Bare (a pooled
// httputil.ReverseProxy, as bench/bareproxy) and Gateway (the real
// handler chain: request id, key principal, in-memory rate limit, access
// log, the proxy with usage capture). Each sub-benchmark reports
// added-ns/op (its ns/op minus Direct's of the same run) and Gateway
// also gw/bare-added, the ratio the bench harness's targets use. Run
// with -benchmem; CPU and allocation profiles include the upstream and
// the client, so compare Gateway against Bare. -count repeats each leaf
// in a row (added-ns/op is then against the last Direct): for
// interleaved runs, repeat the process with -count 1.
func BenchmarkHop(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(hopUpstream))
	b.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	bare := httputil.NewSingleHostReverseProxy(upURL)
	bare.FlushInterval = -1
	bare.Transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
	bareSrv := httptest.NewServer(bare)
	b.Cleanup(bareSrv.Close)

	px, err := proxy.New(proxy.Options{
		Models: []proxy.Model{{Name: "fast", UpstreamModel: "up",
			Provider: openai.New(openai.Options{Name: "local", BaseURL: up.URL + "/v1", Timeout: time.Minute})}},
		Usage: discardUsage{},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)
	limits := ratelimit.NewEnforcer(ratelimit.EnforcerOptions{
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		Policies: ratelimit.NewResolver(ratelimit.ResolverOptions{
			Default: gateway.RateLimitPolicy{RequestsPerMinute: 1e9, Burst: 1e9}}),
	})
	s := httpapi.New(httpapi.Options{
		Auth:         fixedAuth{p: &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u", KeyID: "k", Role: gateway.RoleContributor}},
		Limiter:      limits,
		Proxy:        px,
		MaxBodyBytes: 32 << 20,
		ReadTimeout:  time.Minute,
		AccessLog:    slog.New(slog.NewTextHandler(io.Discard, nil)).With("log", "access"),
	})
	gwSrv := httptest.NewServer(s.Handler())
	b.Cleanup(gwSrv.Close)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	for _, size := range []struct {
		name string
		n    int
	}{{"Small", 100}, {"Body1MiB", 1 << 20}} {
		body := hopBody(size.n)
		var directNs, bareAdded float64
		b.Run(size.name, func(b *testing.B) {
			for _, t := range []struct{ name, url string }{
				{"Direct", up.URL + "/v1"}, {"Bare", bareSrv.URL + "/v1"}, {"Gateway", gwSrv.URL + "/v1"},
			} {
				b.Run(t.name, func(b *testing.B) {
					hop(b, client, t.url+"/chat/completions", body) // warm the connections
					b.ReportAllocs()
					for b.Loop() {
						hop(b, client, t.url+"/chat/completions", body)
					}
					ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
					switch t.name {
					case "Direct":
						directNs = ns
					case "Bare":
						bareAdded = ns - directNs
						b.ReportMetric(bareAdded, "added-ns/op")
					case "Gateway":
						b.ReportMetric(ns-directNs, "added-ns/op")
						if bareAdded > 0 {
							b.ReportMetric((ns-directNs)/bareAdded, "gw/bare-added")
						}
					}
				})
			}
		})
	}
}

// hopBody is a chat request of about n bytes, shaped as bench/'s
// (model first, one long user message).
func hopBody(n int) []byte {
	head := `{"model":"fast","stream":false,"messages":[{"role":"user","content":"`
	tail := `"}]}`
	return []byte(head + strings.Repeat("a", max(n-len(head)-len(tail), 5)) + tail)
}

func hop(b *testing.B, c *http.Client, url string, body []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: status %d", url, resp.StatusCode)
	}
}

// hopCompletion is the upstream's answer (about 250 B, as bench/'s mock).
var hopCompletion = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"up",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the hop benchmark."},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`)

func hopUpstream(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	_, _ = w.Write(hopCompletion)
}

type discardUsage struct{}

func (discardUsage) Record(gateway.UsageRecord) {}
