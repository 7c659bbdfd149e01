package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// cheap are fast argon2id parameters for unit tests only.
var cheap = PasswordParams{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHashAndVerify(t *testing.T) {
	h, err := HashPassword("s3cret password", DefaultPasswordParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %s, want OWASP's minimum parameters in PHC form", h)
	}
	ok, rehash, err := VerifyPassword("s3cret password", h, DefaultPasswordParams())
	if !ok || rehash || err != nil {
		t.Fatalf("verify = %v, %v, %v", ok, rehash, err)
	}
	for _, wrong := range []gateway.Secret{"s3cret password ", "s3cret passwor", "S3cret password", ""} {
		if ok, _, _ := VerifyPassword(wrong, h, DefaultPasswordParams()); ok {
			t.Fatalf("%q verified", wrong.Reveal())
		}
	}
	if _, rehash, _ := VerifyPassword("s3cret password", h, cheap); !rehash {
		t.Fatal("changed parameters do not ask for a rehash")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$YQ$YQ", "$argon2id$v=19$m=x,t=1,p=1$YQ$YQ", "$argon2id$v=19$m=1,t=1,p=1$$YQ", "plain"} {
		if _, _, err := VerifyPassword("x", bad, cheap); err == nil {
			t.Fatalf("malformed hash %q accepted", bad)
		}
	}
}

func TestCheckPasswordBytes(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"1234567", false}, {"1234567x", true}, {"  2345  ", true}, {strings.Repeat("é", 512), true}, {strings.Repeat("a", 1025), false},
		{"12345678", false}, {"password", false}, {"PassWord", false}, {"PASSWORD1", false}, {"iloveyou", false}, {"a good password", true}} {
		err := CheckPassword(gateway.Secret(tc.pw))
		if (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%d bytes) = %v", len(tc.pw), err)
		}
		if err != nil {
			if ge, _ := gateway.AsError(err); ge.Code != "weak_password" || ge.Param != "body.password" {
				t.Errorf("error = %+v", ge)
			}
		}
	}
}

func TestMicroDateRoundTrip(t *testing.T) {
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
	b, _ := json.Marshal(MicroDate{at})
	if string(b) != "1935817689.123456" {
		t.Fatalf("marshal = %s", b)
	}
	var d MicroDate
	if err := json.Unmarshal(b, &d); err != nil || !d.Equal(at) {
		t.Fatalf("unmarshal = %v, %v", d, err)
	}
	for _, in := range []string{"1935990489", "1935990489.1234569"} {
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
	}
	for _, in := range []string{`"x"`, "-1", "1e9", "null"} {
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Fatalf("%s accepted", in)
		}
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestService(t *testing.T, c *clock, p PasswordParams) (*Service, gateway.UserStore) {
	t.Helper()
	st := sqltest.SQLite(t)
	tokens, err := NewTokens(context.Background(), TokensOptions{Keys: st, Issuer: "tollgate", Audience: "tollgate", Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Users: st, Tokens: tokens, Mode: ModeRequired, Loopback: true, Now: c.Now, Password: p, TokenTTL: time.Hour})
	if err := s.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, st
}

func authenticate(s *Service, tok gateway.Secret) (*gateway.Principal, error) {
	r := httptest.NewRequest("GET", "/api/auth/me", nil)
	r.Header.Set("Authorization", "Bearer "+tok.Reveal())
	return s.Authenticate(r)
}

func TestLogoutWatermarkAndExpiry(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, _ := newTestService(t, c, cheap)
	if _, err := s.Setup(ctx, gateway.NewUser{Email: "a@example.com", Password: "first pass 1"}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Login(ctx, "a@example.com", "first pass 1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := authenticate(s, res.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// Logout in the same microsecond the token was issued: revoked.
	if err := s.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(s, res.AccessToken); code(err) != "invalid_authorization" {
		t.Fatalf("after logout err = %v", err)
	}
	// One microsecond later a new token works.
	c.Add(time.Microsecond)
	res2, err := s.Login(ctx, "a@example.com", "first pass 1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(s, res2.AccessToken); err != nil {
		t.Fatalf("token issued after logout: %v", err)
	}
	c.Add(time.Hour)
	if _, err := authenticate(s, res2.AccessToken); code(err) != "token_expired" {
		t.Fatalf("expired err = %v", err)
	}
}

func code(err error) string {
	if ge, ok := gateway.AsError(err); ok {
		return ge.Code
	}
	return ""
}

func TestRehashOnLogin(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	old, st := newTestService(t, c, cheap)
	u, err := old.Setup(ctx, gateway.NewUser{Email: "a@example.com", Password: "first pass 1"})
	if err != nil {
		t.Fatal(err)
	}
	stronger := cheap
	stronger.MemoryKiB, stronger.Time = 128, 2
	tokens, _ := NewTokens(ctx, TokensOptions{Secret: gateway.Secret(strings.Repeat("s", 32)), Issuer: "i", Audience: "a"})
	s := New(Options{Users: st, Tokens: tokens, Password: stronger})
	if _, err := s.Login(ctx, "a@example.com", "first pass 1"); err != nil {
		t.Fatal(err)
	}
	got, _ := st.User(ctx, u.ID)
	if !strings.Contains(got.PasswordHash, "m=128,t=2,p=1") || got.LastLoginAt == nil {
		t.Fatalf("hash after login = %s, last login %v", got.PasswordHash, got.LastLoginAt)
	}
	if _, err := s.Login(ctx, "a@example.com", "first pass 1"); err != nil {
		t.Fatalf("login with the rehashed password: %v", err)
	}
}

func TestCacheSyncSeesOtherInstance(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	a, st := newTestService(t, c, cheap)
	u, err := a.Setup(ctx, gateway.NewUser{Email: "a@example.com", Password: "first pass 1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateUser(ctx, gateway.NewUser{Email: "b@example.com", Password: "first pass 1", Role: gateway.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	res, _ := a.Login(ctx, "a@example.com", "first pass 1")
	if _, err := authenticate(a, res.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Another instance (here: the store directly) deactivates the user.
	no := false
	if _, err := st.UpdateUser(ctx, u.ID, gateway.UserPatch{Active: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(a, res.AccessToken); err != nil {
		t.Fatalf("cached until sync: %v", err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticate(a, res.AccessToken); code(err) != "invalid_authorization" {
		t.Fatalf("after sync err = %v", err)
	}
}

func TestAutoModeHook(t *testing.T) {
	ctx := context.Background()
	st := sqltest.SQLite(t)
	tokens, _ := NewTokens(ctx, TokensOptions{Keys: st, Issuer: "i", Audience: "a"})
	keys := false
	for _, tc := range []struct {
		name     string
		loopback bool
		keys     bool
		open     bool
	}{{"LoopbackEmpty", true, false, true}, {"LoopbackWithKeys", true, true, false}, {"PublicEmpty", false, false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			keys = tc.keys
			s := New(Options{Users: st, Tokens: tokens, Mode: ModeAuto, Loopback: tc.loopback,
				OtherCredentialsExist: func(context.Context) (bool, error) { return keys, nil }})
			if err := s.Init(ctx); err != nil {
				t.Fatal(err)
			}
			if got := s.Open(); got != tc.open {
				t.Fatalf("Open() = %v, want %v", got, tc.open)
			}
			if tc.open {
				s.MarkOtherCredentials()
				if s.Open() {
					t.Fatal("still open after MarkOtherCredentials")
				}
			}
		})
	}
}

// TestAutoModeSeesUsersCreatedElsewhere: an instance started before the
// first user existed stops acting as the local admin within a second once
// another instance (or the CLI) created a user or another credential in
// the shared database, without waiting for its poll; a database it cannot
// ask leaves it open (an outage must not stop an open deployment).
func TestAutoModeSeesUsersCreatedElsewhere(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		created  func(t *testing.T, st *sqlstore.Store, other *bool)
		stayOpen bool
	}{
		{"UserCreatedElsewhere", func(t *testing.T, st *sqlstore.Store, _ *bool) {
			if err := st.CreateUser(ctx, &gateway.User{Email: "first@example.com", Role: gateway.RoleAdmin, Active: true}); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"KeyCreatedElsewhere", func(_ *testing.T, _ *sqlstore.Store, other *bool) { *other = true }, false},
		{"DatabaseGone", func(_ *testing.T, st *sqlstore.Store, _ *bool) { _ = st.Close() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := sqltest.SQLite(t)
			other := false
			clock := testsvc.NewClock(time.Now())
			s := New(Options{Users: st, Mode: ModeAuto, Loopback: true, Password: cheap, Now: clock.Now,
				OtherCredentialsExist: func(ctx context.Context) (bool, error) {
					if _, err := st.AnyUsers(ctx); err != nil {
						return false, err
					}
					return other, nil
				}})
			if err := s.Init(ctx); err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
			local := func(when string) {
				t.Helper()
				if p, err := s.Authenticate(req); err != nil || p == nil || p.Kind != gateway.PrincipalLocal {
					t.Fatalf("%s: Authenticate = %v, %v; want the local admin", when, p, err)
				}
			}
			local("before")
			tc.created(t, st, &other)
			clock.Advance(openCheckEvery)
			if tc.stayOpen {
				local("after")
				return
			}
			p, err := s.Authenticate(req)
			if p != nil {
				t.Fatalf("after: authenticated as %+v without a credential", p)
			}
			if ge, ok := gateway.AsError(err); !ok || ge.Kind != gateway.KindUnauthenticated || ge.Code != "missing_authorization" {
				t.Fatalf("after: err = %v, want 401 missing_authorization", err)
			}
		})
	}
}
