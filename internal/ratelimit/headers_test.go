package ratelimit

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

func TestSetHeaders(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 600, Burst: 100, TokensPerMinute: 6000}
	ps := NewPolicies(def,
		[]gateway.RateLimitPolicy{{ID: "c", Name: "chat", RequestsPerMinute: 6, Burst: 2}},
		[]gateway.RateLimitAssignment{{PolicyID: "c", SubjectType: gateway.SubjectRoute, Subject: "POST /v1/chat/completions"}})
	e, clk, _ := newTestEnforcer(t, ps)
	ctx := context.Background()
	req := Request{Principal: &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u"}, Route: "POST /v1/chat/completions"}

	d, err := e.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ChargeTokens(ctx, req.Principal, req.Route, 150); err != nil {
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond)
	d, err = e.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	SetHeaders(h, d)
	// Tokens: 6000/min (100/s), 150 charged 0.5s ago: 100 to refill, 1s.
	// Chat: 6/min burst 2, two requests 0.5s apart: 0 left, full in 19.5s.
	// Default: 600/min burst 100, refilled in between: 99 left, full in 0.1s.
	want := map[string]string{
		"RateLimit-Policy":      `"default-tokens";q=6000;w=60;qu="tokens", "chat";q=2;w=20, "default";q=100;w=10`,
		"RateLimit":             `"default-tokens";r=5900;t=1, "chat";r=0;t=20, "default";r=99;t=1`,
		"X-RateLimit-Limit":     "2",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "20",
		"Retry-After":           "",
		"Cache-Control":         "",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	clk.Advance(time.Second)
	d, err = e.Check(ctx, req)
	ge := rateLimited(t, err, "rate_limit_exceeded")
	h = http.Header{}
	SetHeaders(h, d)
	// Chat is 18.5s from full with burst 2 (10s each): one fits in 8.5s.
	want = map[string]string{
		"RateLimit-Policy":      `"default-tokens";q=6000;w=60;qu="tokens", "chat";q=2;w=20`,
		"RateLimit":             `"default-tokens";r=6000;t=0, "chat";r=0;t=19`,
		"X-RateLimit-Limit":     "2",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "19",
		"Retry-After":           "9",
		"Cache-Control":         "no-store",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("refused: %s = %q, want %q", k, got, v)
		}
	}
	if ge.RetryAfter != 9 {
		t.Errorf("error RetryAfter = %d, want 9", ge.RetryAfter)
	}

	if len(h) != 7 {
		t.Errorf("refused: %d headers set, want 7: %v", len(h), h)
	}
	// One string for every value and one slice of them, whatever the
	// number of buckets.
	if n := testing.AllocsPerRun(100, func() { SetHeaders(h, d) }); n > 2 {
		t.Errorf("SetHeaders allocates %v times, want at most 2", n)
	}

	h = http.Header{}
	SetHeaders(h, nil)
	if len(h) != 0 {
		t.Errorf("SetHeaders(nil) set %v", h)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {59500 * time.Millisecond, 60}} {
		if got := RetryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
