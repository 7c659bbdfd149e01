package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// memSource is an in-memory PolicySource whose contents and failure the
// test controls.
type memSource struct {
	mu          sync.Mutex
	policies    []gateway.RateLimitPolicy
	assignments []gateway.RateLimitAssignment
	err         error
}

func (s *memSource) ListRateLimitPolicies(context.Context) ([]gateway.RateLimitPolicy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.RateLimitPolicy(nil), s.policies...), s.err
}

func (s *memSource) ListRateLimitAssignments(context.Context) ([]gateway.RateLimitAssignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.RateLimitAssignment(nil), s.assignments...), s.err
}

func (s *memSource) set(f func(*memSource)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func TestResolverRefreshesWithinInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &memSource{}
		var logs bytes.Buffer
		r := NewResolver(ResolverOptions{
			Source:   src,
			Default:  gateway.RateLimitPolicy{RequestsPerMinute: 600, Burst: 100},
			Interval: time.Second,
			Log:      slog.New(slog.NewTextHandler(&logs, nil)),
		})
		user := &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1"}
		if got := r.Policies().For(user).Name; got != "default" {
			t.Fatalf("before Run: %q, want default", got)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		synctest.Wait()

		src.set(func(s *memSource) {
			s.policies = []gateway.RateLimitPolicy{{ID: "p", Name: "strict", RequestsPerMinute: 1, Burst: 1}}
			s.assignments = []gateway.RateLimitAssignment{{PolicyID: "p", SubjectType: gateway.SubjectUser, Subject: "u1"}}
		})
		time.Sleep(999 * time.Millisecond) // virtual time inside the bubble
		synctest.Wait()
		if got := r.Policies().For(user).Name; got != "default" {
			t.Fatalf("before the interval: %q, want default", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := r.Policies().For(user).Name; got != "strict" {
			t.Fatalf("after the interval: %q, want strict", got)
		}

		// A failing database keeps the last snapshot and logs once.
		src.set(func(s *memSource) { s.err = errors.New("db down") })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := r.Policies().For(user).Name; got != "strict" {
			t.Fatalf("while failing: %q, want strict kept", got)
		}
		if got := strings.Count(logs.String(), "reload failed"); got != 1 {
			t.Fatalf("failure logged %d times over 5 refreshes, want 1:\n%s", got, logs.String())
		}
		src.set(func(s *memSource) { s.err = nil; s.assignments = nil })
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.Policies().For(user).Name; got != "default" {
			t.Fatalf("after recovery and unassignment: %q, want default", got)
		}
		if !strings.Contains(logs.String(), "reload recovered") {
			t.Fatalf("recovery not logged:\n%s", logs.String())
		}
		cancel()
		<-done
	})
}

func TestResolverIntervalCapped(t *testing.T) {
	r := NewResolver(ResolverOptions{Interval: time.Hour})
	if r.interval != MaxRefreshInterval {
		t.Fatalf("interval = %v, want %v", r.interval, MaxRefreshInterval)
	}
}
