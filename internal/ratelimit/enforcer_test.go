package ratelimit

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/testsvc"
)

type staticPolicies struct{ ps *Policies }

func (s staticPolicies) Policies() *Policies { return s.ps }

func newTestEnforcer(t *testing.T, ps *Policies, trusted ...string) (*Enforcer, *testsvc.Clock, *Metrics) {
	t.Helper()
	clk := newFakeClock()
	met, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ParseTrustedProxies(trusted)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEnforcer(EnforcerOptions{
		Limiter:        NewMemory(MemoryOptions{Now: clk.Now}),
		Policies:       staticPolicies{ps},
		TrustedProxies: tp,
		Metrics:        met,
	})
	return e, clk, met
}

// admitted counts how many of n checks pass.
func admitted(t *testing.T, e *Enforcer, req Request, n int) int {
	t.Helper()
	ok := 0
	for range n {
		d, err := e.Check(context.Background(), req)
		if d == nil {
			t.Fatalf("Check: nil decision, err %v", err)
		}
		if err == nil {
			ok++
		}
	}
	return ok
}

func rateLimited(t *testing.T, err error, code string) *gateway.Error {
	t.Helper()
	ge, ok := gateway.AsError(err)
	if !ok || ge.Kind != gateway.KindRateLimited || ge.Code != code || ge.RetryAfter < 1 {
		t.Fatalf("err = %#v, want KindRateLimited %s with RetryAfter >= 1", err, code)
	}
	return ge
}

func TestEnforcerSubjects(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 3}
	// The app's owner has a larger user policy (the owner's bucket caps the
	// sum of the app's end users); the key keeps 60/min, burst 3 per end user.
	e, _, _ := newTestEnforcer(t, NewPolicies(def,
		[]gateway.RateLimitPolicy{{ID: "per-end-user", Name: "per-end-user", RequestsPerMinute: 60, Burst: 3},
			{ID: "owner", Name: "app-owner", RequestsPerMinute: 6000, Burst: 100}},
		[]gateway.RateLimitAssignment{{PolicyID: "per-end-user", SubjectType: gateway.SubjectKey, Subject: "app"},
			{PolicyID: "owner", SubjectType: gateway.SubjectUser, Subject: "owner"}}))
	app := func(endUser string) Request {
		return Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "app", UserID: "owner", EndUserMode: true, EndUserID: endUser}}
	}
	t.Run("EndUsersCountedSeparately", func(t *testing.T) {
		for _, u := range []string{"alice", "bob"} {
			if got := admitted(t, e, app(u), 5); got != 3 {
				t.Fatalf("end user %s admitted %d, want 3", u, got)
			}
		}
		d, _ := e.Check(context.Background(), app("carol"))
		if got, want := d.Subject, "key:app:carol"; got != want {
			t.Fatalf("Subject = %q, want %q", got, want)
		}
	})
	t.Run("KeyWithoutEndUserIsItsOwnBucket", func(t *testing.T) {
		if got := admitted(t, e, app(""), 5); got != 3 {
			t.Fatalf("admitted %d, want 3", got)
		}
	})
	t.Run("UserAndIP", func(t *testing.T) {
		u := Request{Principal: &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1"}, ClientIP: netip.MustParseAddr("10.0.0.1")}
		if got := admitted(t, e, u, 5); got != 3 {
			t.Fatalf("user admitted %d, want 3", got)
		}
		// The same IP without identity is a different subject.
		anon := Request{ClientIP: netip.MustParseAddr("10.0.0.1")}
		d, err := e.Check(context.Background(), anon)
		if err != nil || d.Subject != "ip:10.0.0.1" {
			t.Fatalf("anonymous: subject %q err %v, want ip:10.0.0.1 admitted", d.Subject, err)
		}
	})
}

func TestEnforcerRouteBucket(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 10}
	ps := NewPolicies(def,
		[]gateway.RateLimitPolicy{{ID: "c", Name: "chat", RequestsPerMinute: 60, Burst: 2}},
		[]gateway.RateLimitAssignment{{PolicyID: "c", SubjectType: gateway.SubjectRoute, Subject: "POST /v1/chat/completions"}})
	e, _, met := newTestEnforcer(t, ps)
	ctx := context.Background()
	user := func(id, route string) Request {
		return Request{Principal: &gateway.Principal{Kind: gateway.PrincipalUser, UserID: id}, Route: route}
	}
	if got := admitted(t, e, user("u1", "POST /v1/chat/completions"), 4); got != 2 {
		t.Fatalf("chat admitted %d, want 2 (route burst)", got)
	}
	_, err := e.Check(ctx, user("u1", "POST /v1/chat/completions"))
	rateLimited(t, err, "rate_limit_exceeded")
	// Another subject has its own route bucket.
	if got := admitted(t, e, user("u2", "POST /v1/chat/completions"), 4); got != 2 {
		t.Fatalf("u2 chat admitted %d, want 2", got)
	}
	// Refused chat requests gave back the subject bucket: u1 still has 8 of
	// 10 for other routes (2 chat requests were admitted).
	if got := admitted(t, e, user("u1", "GET /v1/models"), 20); got != 8 {
		t.Fatalf("u1 other routes admitted %d, want 8", got)
	}
	if got := testutil.ToFloat64(met.decisions.WithLabelValues("chat", "requests", "limited")); got != 5 {
		t.Fatalf("chat limited decisions = %v, want 5", got)
	}
	if got := testutil.ToFloat64(met.decisions.WithLabelValues("default", "requests", "allowed")); got != 12 {
		t.Fatalf("default allowed decisions = %v, want 12", got)
	}
}

func TestEnforcerTokenBudget(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 1, Burst: 100, TokensPerMinute: 1000}
	e, clk, met := newTestEnforcer(t, NewPolicies(def, nil, nil))
	ctx := context.Background()
	req := Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k"}}

	d, err := e.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Checking does not charge tokens.
	if got := d.Buckets[0]; !got.Tokens || got.Result.Remaining != 1000 {
		t.Fatalf("token bucket = %+v, want 1000 remaining", got)
	}
	// A completion used 1500 tokens: charged in full, the budget is in debt.
	if err := e.ChargeTokens(ctx, req.Principal, req.Route, 1500); err != nil {
		t.Fatal(err)
	}
	d, err = e.Check(ctx, req)
	ge := rateLimited(t, err, "quota_exceeded")
	// 500 tokens of debt plus one token at 1000/min: 30.06s, so 31s.
	if got, want := ge.RetryAfter, 31; got != want {
		t.Fatalf("RetryAfter = %d, want %d", got, want)
	}
	if d.Allowed || len(d.Buckets) != 1 {
		t.Fatalf("decision = %+v, want refused at the token bucket", d)
	}
	// A refusal by the token budget does not consume the request bucket.
	clk.Advance(30 * time.Second)
	if _, err := e.Check(ctx, req); err == nil {
		t.Fatal("admitted at 30s, want still refused")
	}
	clk.Advance(60 * time.Millisecond)
	d, err = e.Check(ctx, req)
	if err != nil {
		t.Fatalf("at 30.06s: %v, want admitted", err)
	}
	if got, want := d.Buckets[1].Result.Remaining, 98; got != want {
		t.Fatalf("request bucket remaining = %d, want %d (two admitted requests)", got, want)
	}
	if got := testutil.ToFloat64(met.decisions.WithLabelValues("default", "tokens", "limited")); got != 2 {
		t.Fatalf("token limited decisions = %v, want 2", got)
	}
	if err := e.ChargeTokens(ctx, nil, "", 10); err != nil {
		t.Fatalf("ChargeTokens(nil principal) = %v", err)
	}
}

func TestEnforcerCheckHTTPSpoofedForwardedFor(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 2}
	e, _, _ := newTestEnforcer(t, NewPolicies(def, nil, nil), "10.0.0.0/8")
	n := 0
	for i := range 10 {
		r := httptest.NewRequest("GET", "/v1/models", nil)
		r.RemoteAddr = "203.0.113.7:4000" // untrusted peer
		r.Header.Set("X-Forwarded-For", netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}).String())
		d, err := e.CheckHTTP(r)
		if d.Subject != "ip:203.0.113.7" {
			t.Fatalf("subject = %q, want the peer", d.Subject)
		}
		if err == nil {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("spoofed requests admitted %d, want 2 (one bucket)", n)
	}
	// Through a trusted proxy, the forwarded client is the subject.
	r := httptest.NewRequest("GET", "/v1/models", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	r = r.WithContext(gateway.WithPrincipal(r.Context(), nil))
	if d, err := e.CheckHTTP(r); err != nil || d.Subject != "ip:198.51.100.9" {
		t.Fatalf("via trusted proxy: subject %q err %v", d.Subject, err)
	}
}

type failingLimiter struct{ Limiter }

func (failingLimiter) Allow(context.Context, string, Limit, int) (Result, error) {
	return Result{}, errors.New("boom")
}

func TestEnforcerLimiterFailureIsInternal(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 2}
	e := NewEnforcer(EnforcerOptions{Limiter: failingLimiter{}, Policies: staticPolicies{NewPolicies(def, nil, nil)}})
	d, err := e.Check(context.Background(), Request{})
	if ge, ok := gateway.AsError(err); !ok || ge.Kind != gateway.KindInternal || d != nil {
		t.Fatalf("Check = %v, %v; want nil decision and KindInternal", d, err)
	}
}

// TestChargeTokensChargesTheBudgetsCheckPeeks: ChargeTokens, given the
// principal and route of a request, charges exactly the token budgets its
// Check peeked (the key owner's, the subject's, the route's), and no
// other route's or subject's.
func TestChargeTokensChargesTheBudgetsCheckPeeks(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 600, Burst: 100, TokensPerMinute: 6000}
	ps := NewPolicies(def,
		[]gateway.RateLimitPolicy{
			{ID: "c", Name: "chat", RequestsPerMinute: 600, Burst: 100, TokensPerMinute: 3000},
			{ID: "o", Name: "team", RequestsPerMinute: 600, Burst: 100, TokensPerMinute: 9000},
		},
		[]gateway.RateLimitAssignment{
			{PolicyID: "c", SubjectType: gateway.SubjectRoute, Subject: "POST /v1/chat/completions"},
			{PolicyID: "o", SubjectType: gateway.SubjectUser, Subject: "u1"},
			{PolicyID: "c", SubjectType: gateway.SubjectKey, Subject: "k2"},
		})
	e, _, _ := newTestEnforcer(t, ps)
	ctx := context.Background()
	p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k1", UserID: "u1", Role: gateway.RoleContributor, OwnerRole: gateway.RoleContributor}
	chat := Request{Principal: p, Route: "POST /v1/chat/completions"}
	remaining := func(req Request) map[string]int {
		t.Helper()
		d, err := e.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, b := range d.Buckets {
			if b.Tokens {
				out[b.Name] = b.Result.Remaining
			}
		}
		return out
	}
	if got, want := remaining(chat), map[string]int{"owner-tokens": 9000, "team-tokens": 9000, "chat-tokens": 3000}; !equalCounts(got, want) {
		t.Fatalf("token budgets before = %v, want %v", got, want)
	}
	if err := e.ChargeTokens(ctx, p, chat.Route, 100); err != nil {
		t.Fatal(err)
	}
	// The fake clock stands still: nothing refills.
	if got, want := remaining(chat), map[string]int{"owner-tokens": 8900, "team-tokens": 8900, "chat-tokens": 2900}; !equalCounts(got, want) {
		t.Fatalf("token budgets after = %v, want %v", got, want)
	}
	// Without the route, the route's budget is not charged.
	if err := e.ChargeTokens(ctx, p, "GET /v1/models", 100); err != nil {
		t.Fatal(err)
	}
	if got, want := remaining(chat), map[string]int{"owner-tokens": 8800, "team-tokens": 8800, "chat-tokens": 2900}; !equalCounts(got, want) {
		t.Fatalf("token budgets after a charge on another route = %v, want %v", got, want)
	}
	// Another key of the same owner (with a key policy of its own) shares
	// only the owner's budget.
	other := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k2", UserID: "u1", Role: gateway.RoleContributor, OwnerRole: gateway.RoleContributor}
	if got, want := remaining(Request{Principal: other}), map[string]int{"owner-tokens": 8800, "chat-tokens": 3000}; !equalCounts(got, want) {
		t.Fatalf("other key's token budgets = %v, want %v", got, want)
	}
	// Anonymous principals have no subject and are charged nothing.
	if err := e.ChargeTokens(ctx, &gateway.Principal{}, chat.Route, 100); err != nil {
		t.Fatal(err)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestEnforcerCheckLogin(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 100}
	e, clk, _ := newTestEnforcer(t, NewPolicies(def, nil, nil))
	ctx := context.Background()
	ip := netip.MustParseAddr("198.51.100.4")
	for i := range 10 {
		if _, err := e.CheckLogin(ctx, ip, 10); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	d, err := e.CheckLogin(ctx, ip, 10)
	if ge := rateLimited(t, err, "rate_limit_exceeded"); ge.RetryAfter != 6 {
		t.Fatalf("RetryAfter = %d, want 6", ge.RetryAfter)
	}
	if d.Policy != "login" || d.Allowed {
		t.Fatalf("decision = %+v", d)
	}
	// The login bucket is separate from the IP's request bucket.
	if _, err := e.Check(ctx, Request{ClientIP: ip}); err != nil {
		t.Fatalf("request from the same IP: %v", err)
	}
	clk.Advance(6 * time.Second)
	if _, err := e.CheckLogin(ctx, ip, 10); err != nil {
		t.Fatalf("after 6s: %v", err)
	}
}

// TestEnforcerOwnerBucketCapsKeys: SPEC 5, a request made with a key also
// consumes its owner's user:<id> bucket, so two keys of one user (and an
// app key's end users, and the user's own login) share the user's policy.
func TestEnforcerOwnerBucketCapsKeys(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 5}
	e, _, _ := newTestEnforcer(t, NewPolicies(def, nil, nil))
	testOwnerBucketCapsKeys(t, e)
}

// testOwnerBucketCapsKeys runs against an enforcer whose default policy is
// 60 per minute, burst 5 (shared by the Redis backend's test).
func testOwnerBucketCapsKeys(t *testing.T, e *Enforcer) {
	t.Helper()
	key := func(id string) Request {
		return Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: id, UserID: "u1",
			Role: gateway.RoleContributor, OwnerRole: gateway.RoleContributor}}
	}
	ctx := context.Background()
	k1, k2 := admitted(t, e, key("k1"), 3), admitted(t, e, key("k2"), 5)
	if k1 != 3 || k2 != 2 {
		t.Fatalf("admitted k1 %d, k2 %d; want 3 and 2 (the owner's burst of 5 caps the sum)", k1, k2)
	}
	d, err := e.Check(ctx, key("k3"))
	rateLimited(t, err, "rate_limit_exceeded")
	if got, want := d.Buckets[len(d.Buckets)-1].Name, "owner"; got != want {
		t.Fatalf("refusing bucket = %q, want %q", got, want)
	}
	// The user's own login shares the same bucket.
	login := Request{Principal: &gateway.Principal{Kind: gateway.PrincipalUser, UserID: "u1", Role: gateway.RoleContributor, OwnerRole: gateway.RoleContributor}}
	_, err = e.Check(ctx, login)
	rateLimited(t, err, "rate_limit_exceeded")
	// So do an app key's end users, each with its own key bucket.
	app := Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "app", UserID: "u1", EndUserMode: true, EndUserID: "alice",
		Role: gateway.RoleContributor, OwnerRole: gateway.RoleContributor}}
	_, err = e.Check(ctx, app)
	rateLimited(t, err, "rate_limit_exceeded")
	// Another user is not affected.
	other := key("k9")
	other.Principal.UserID = "u2"
	if got := admitted(t, e, other, 1); got != 1 {
		t.Fatalf("another user's key admitted %d, want 1", got)
	}
}

// TestEnforcerHeadersReportTighterBucket: with a fresh key of a user whose
// bucket is nearly spent, X-RateLimit-* describe the owner's bucket.
func TestEnforcerHeadersReportTighterBucket(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "default", RequestsPerMinute: 60, Burst: 5}
	e, _, _ := newTestEnforcer(t, NewPolicies(def, nil, nil))
	key := func(id string) Request {
		return Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: id, UserID: "u1", Role: gateway.RoleViewer}}
	}
	admitted(t, e, key("k1"), 3)
	d, err := e.Check(context.Background(), key("k2"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	SetHeaders(rec.Header(), d)
	if got, want := rec.Header().Get("X-RateLimit-Remaining"), "1"; got != want {
		t.Fatalf("X-RateLimit-Remaining = %q, want %q (the owner's bucket; the key's has 4)", got, want)
	}
	if got, want := rec.Header().Get("RateLimit"), `"default";r=4;t=1, "owner";r=1;t=4`; got != want {
		t.Fatalf("RateLimit = %q, want %q", got, want)
	}
}

// TestEnforcerOwnerBucketNamesUnique: a policy named "owner" does not
// collide with the owner's bucket in the headers.
func TestEnforcerOwnerBucketNamesUnique(t *testing.T) {
	def := gateway.RateLimitPolicy{Name: "owner", RequestsPerMinute: 60, Burst: 5, TokensPerMinute: 1000}
	e, _, _ := newTestEnforcer(t, NewPolicies(def, nil, nil))
	d, err := e.Check(context.Background(), Request{Principal: &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", UserID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range d.Buckets {
		names = append(names, b.Name)
	}
	if got, want := strings.Join(names, ","), "owner-tokens-user,owner-tokens,owner,owner-user"; got != want {
		t.Fatalf("bucket names = %s, want %s", got, want)
	}
}
