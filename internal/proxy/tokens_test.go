package proxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/proxy"
)

// charge is one ChargeTokens call.
type charge struct {
	principal *gateway.Principal
	route     string
	tokens    int64
}

// chargeLog is a TokenCharger that remembers its calls.
type chargeLog struct {
	mu    sync.Mutex
	calls []charge
	err   error
}

func (c *chargeLog) ChargeTokens(_ context.Context, p *gateway.Principal, route string, tokens int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, charge{p, route, tokens})
	return c.err
}

func (c *chargeLog) take() []charge {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// TestTokensChargedAfterCompletion: after each completion the proxy
// charges prompt plus completion tokens to its TokenCharger, with the
// request's principal and matched route; a failed request charges nothing.
func TestTokensChargedAfterCompletion(t *testing.T) {
	up := llmtest.NewT(t,
		llmtest.Reply{PromptTokens: 7, Words: []string{"a", " b", " c"}},
		llmtest.Reply{PromptTokens: 7, Words: []string{"a", " b", " c"}},
		llmtest.Reply{Status: 500})
	tokens := &chargeLog{err: errors.New("limiter down")} // a failure is only logged
	px, err := proxy.New(proxy.Options{Models: []proxy.Model{model("fast", provider("local", up.URL, time.Minute), "up")}, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	principal := &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u1", KeyID: "k1", Role: gateway.RoleContributor}
	done := make(chan struct{}, 3)
	srv := serveRouter(t, px, principalAuth{&harness{principal: principal}}, done)
	for i, body := range []string{`{"model":"fast","messages":[]}`, streamBody, `{"model":"fast","messages":[]}`} {
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		<-done
		calls := tokens.take()
		if i == 2 {
			if len(calls) != 0 {
				t.Fatalf("failed request charged %+v, want nothing", calls)
			}
			continue
		}
		if len(calls) != 1 || calls[0].principal.KeyID != principal.KeyID || calls[0].principal.UserID != principal.UserID ||
			calls[0].route != "POST /v1/chat/completions" || calls[0].tokens != 10 {
			t.Fatalf("request %d charged %+v, want 10 tokens to the principal on POST /v1/chat/completions", i, calls)
		}
	}
}
