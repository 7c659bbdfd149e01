package oauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/oauth"
	"github.com/tollgate/tollgate/internal/oauth/oauthtest"
)

func oidcEnv(t *testing.T, mod func(*oauth.Provider)) (*env, *oauthtest.Issuer) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	is := oauthtest.NewIssuer(t, clk.Now)
	p := oauth.Provider{Name: "corp", Type: oauth.TypeOIDC, ClientID: is.ClientID(), ClientSecret: gateway.Secret(is.ClientSecret()),
		Issuer: is.URL(), AutoRegister: true, DefaultRole: gateway.RoleViewer}
	if mod != nil {
		mod(&p)
	}
	e := newEnv(t, clk, p)
	t.Cleanup(func() {
		vals := append(is.Secrets(), is.ClientSecret())
		e.assertNoSecretsLogged(vals...)
	})
	return e, is
}

func TestOIDC(t *testing.T) {
	ctx := context.Background()
	t.Run("FullFlowRegistersThenSignsIn", func(t *testing.T) {
		e, is := oidcEnv(t, nil)
		f := e.begin("corp")
		c := f.binding
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/api/auth/oauth/" || c.MaxAge != 600 || c.Secure {
			t.Fatalf("binding cookie = %+v, want HttpOnly, SameSite=Lax, Path=/api/auth/oauth/, Max-Age=600, not Secure on http", c)
		}
		if got := f.start.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q, want no-store", got)
		}
		auth, _ := f.start.Location()
		q := auth.Query()
		if q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != e.srv.URL+"/api/auth/oauth/corp/callback" ||
			q.Get("scope") != "openid email profile" || len(q.Get("state")) != 43 || len(q.Get("nonce")) != 43 {
			t.Fatalf("authorize URL = %s", auth)
		}
		resp := e.finish(f, false, nil, f.binding)
		u, _ := e.wantSignedIn(resp, "new@example.com")
		if u.Role != gateway.RoleViewer || u.DisplayName != "New Person" || u.PasswordHash != "" || u.LastLoginAt == nil {
			t.Fatalf("registered user = %+v, want viewer New Person without password", u)
		}
		if c := cookieNamed(resp, oauth.BindingCookie); c == nil || c.MaxAge != -1 {
			t.Fatalf("callback does not clear the binding cookie: %+v", c)
		}
		id, err := e.st.UserIdentity(ctx, "corp", "sub-1")
		if err != nil || id.UserID != u.ID {
			t.Fatalf("identity = %+v, %v", id, err)
		}
		// Again, with another email at the provider: the same user (by
		// subject, not email).
		is.SetAccount(oauthtest.Account{Sub: "sub-1", Email: "renamed@example.com", Verified: true})
		f = e.begin("corp")
		again, _ := e.wantSignedIn(e.finish(f, false, nil, f.binding), "new@example.com")
		if again.ID != u.ID || e.userCount() != 2 {
			t.Fatalf("second sign-in: user %s (count %d), want %s (2)", again.ID, e.userCount(), u.ID)
		}
	})
	t.Run("WrongState", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		f := e.begin("corp")
		q := f.callback.Query()
		// Change the first character (to one it is not: a state that
		// happens to start with "x" must still be forged).
		st, forged := q.Get("state"), "x"
		if st[0] == 'x' {
			forged = "y"
		}
		q.Set("state", forged+st[1:])
		wantLoginError(t, e.finish(f, false, q, f.binding), "invalid_state")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("CallbackInAnotherBrowser", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		f := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil), "invalid_state")
		// Another browser's own binding does not fit either.
		other := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, other.binding), "invalid_state")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("ForgedBindingCookie", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		f := e.begin("corp")
		forged := *f.binding
		forged.Value = f.binding.Value[:len(f.binding.Value)-2] + "AA"
		wantLoginError(t, e.finish(f, false, nil, &forged), "invalid_state")
	})
	t.Run("ExpiredBinding", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		f := e.begin("corp")
		e.clock.Advance(10 * time.Minute)
		wantLoginError(t, e.finish(f, false, nil, f.binding), "invalid_state")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("InterceptedCodeWithoutItsVerifier", func(t *testing.T) {
		// An attacker who intercepted the victim's code delivers it with
		// the attacker's own binding (state and verifier): the PKCE
		// verifier does not fit the victim's challenge.
		e, is := oidcEnv(t, nil)
		victim := e.begin("corp")
		attacker := e.begin("corp")
		q := attacker.callback.Query()
		q.Set("code", victim.callback.Query().Get("code"))
		wantLoginError(t, e.finish(attacker, false, q, attacker.binding), "exchange_failed")
		if e.userCount() != 1 || is.TokenErrors() != 1 {
			t.Fatalf("users %d, token refusals %d; want 1, 1", e.userCount(), is.TokenErrors())
		}
	})
	t.Run("TokenEndpointRequiresVerifier", func(t *testing.T) {
		_, is := oidcEnv(t, nil)
		resp, err := http.PostForm(is.URL()+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {"nope"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("token without verifier = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("ReplayedCode", func(t *testing.T) {
		e, _ := oidcEnv(t, func(p *oauth.Provider) { p.AutoRegister = false })
		f := e.begin("corp")
		// The first delivery is refused (no registration) but spends the
		// code; the same callback again, cookie and all, is refused by the
		// provider.
		wantLoginError(t, e.finish(f, false, nil, f.binding), "registration_disabled")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "exchange_failed")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	badToken := map[string]func(jwt.MapClaims){
		"WrongAudience": func(c jwt.MapClaims) { c["aud"] = "another-client" },
		"WrongIssuer":   func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" },
		"WrongNonce":    func(c jwt.MapClaims) { c["nonce"] = "not-the-nonce" },
		"NoNonce":       func(c jwt.MapClaims) { delete(c, "nonce") },
		"Expired":       func(c jwt.MapClaims) { c["exp"] = c["iat"].(int64) - 1 },
	}
	for name, tamper := range badToken {
		t.Run("IDToken"+name, func(t *testing.T) {
			e, is := oidcEnv(t, nil)
			is.SetTamper(tamper)
			f := e.begin("corp")
			wantLoginError(t, e.finish(f, false, nil, f.binding), "invalid_id_token")
			if e.userCount() != 1 {
				t.Fatal("a user was created")
			}
		})
	}
	t.Run("IDTokenBadSignature", func(t *testing.T) {
		e, is := oidcEnv(t, nil)
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		is.SetSigningKey(other)
		f := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "invalid_id_token")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("UnverifiedEmail", func(t *testing.T) {
		e, is := oidcEnv(t, nil)
		is.SetAccount(oauthtest.Account{Sub: "sub-9", Email: "new@example.com", Verified: false})
		f := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "email_not_verified")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("RegistrationDisabled", func(t *testing.T) {
		e, _ := oidcEnv(t, func(p *oauth.Provider) { p.AutoRegister = false })
		f := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "registration_disabled")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("EmailDomainNotAllowed", func(t *testing.T) {
		e, _ := oidcEnv(t, func(p *oauth.Provider) { p.AllowedEmailDomains = []string{"corp.example"} })
		f := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "email_domain_not_allowed")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("AccessDenied", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		f := e.begin("corp")
		q := url.Values{"error": {"access_denied"}, "state": {f.callback.Query().Get("state")}}
		wantLoginError(t, e.finish(f, false, q, f.binding), "access_denied")
	})
	t.Run("UnknownProvider", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		wantLoginError(t, e.do("GET", e.srv.URL+"/api/auth/oauth/nope", nil), "unknown_provider")
		wantLoginError(t, e.do("GET", e.srv.URL+"/api/auth/oauth/nope/callback?code=x&state=y", nil), "unknown_provider")
	})
	t.Run("ProviderDown", func(t *testing.T) {
		clk := &clock{t: time.Now()}
		e := newEnv(t, clk, oauth.Provider{Name: "down", Type: oauth.TypeOIDC, ClientID: "c", ClientSecret: "s", Issuer: "http://127.0.0.1:1"})
		wantLoginError(t, e.do("GET", e.srv.URL+"/api/auth/oauth/down", nil), "provider_unavailable")
	})
	t.Run("ExistingEmailDoesNotTakeOver", func(t *testing.T) {
		e, is := oidcEnv(t, nil)
		alice := gateway.User{Email: "alice@example.com", Role: gateway.RoleAdmin, Active: true, PasswordHash: "x"}
		if err := e.st.CreateUser(ctx, &alice); err != nil {
			t.Fatal(err)
		}
		is.SetAccount(oauthtest.Account{Sub: "evil-sub", Email: "Alice@Example.com", Verified: true})
		f := e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "email_taken")
		if _, err := e.st.UserIdentity(ctx, "corp", "evil-sub"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("identity linked without the user: %v", err)
		}
		if e.userCount() != 2 {
			t.Fatal("a user was created")
		}
	})
	t.Run("LinkWhileSignedIn", func(t *testing.T) {
		e, is := oidcEnv(t, nil)
		alice := gateway.User{Email: "alice@example.com", Role: gateway.RoleAdmin, Active: true, PasswordHash: "x"}
		if err := e.st.CreateUser(ctx, &alice); err != nil {
			t.Fatal(err)
		}
		session := &http.Cookie{Name: "test_session", Value: alice.ID}
		is.SetAccount(oauthtest.Account{Sub: "alice-sub", Email: "alice@example.com", Verified: true})
		// Without a session, ?link=1 is refused before the provider.
		wantLoginError(t, e.do("GET", e.srv.URL+"/api/auth/oauth/corp?link=1", nil), "login_required")
		f := e.begin("corp?link=1", session)
		resp := e.finish(f, false, nil, f.binding, session)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
			t.Fatalf("link answered %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		id, err := e.st.UserIdentity(ctx, "corp", "alice-sub")
		if err != nil || id.UserID != alice.ID {
			t.Fatalf("identity = %+v, %v; want linked to alice", id, err)
		}
		// Now the provider signs alice in.
		f = e.begin("corp")
		u, _ := e.wantSignedIn(e.finish(f, false, nil, f.binding), "alice@example.com")
		if u.ID != alice.ID || e.userCount() != 2 {
			t.Fatalf("signed in as %s, users %d", u.ID, e.userCount())
		}
		// Another user cannot link alice's identity.
		bob := gateway.User{Email: "bob@example.com", Role: gateway.RoleViewer, Active: true}
		if err := e.st.CreateUser(ctx, &bob); err != nil {
			t.Fatal(err)
		}
		bobSession := &http.Cookie{Name: "test_session", Value: bob.ID}
		f = e.begin("corp?link=1", bobSession)
		wantLoginError(t, e.finish(f, false, nil, f.binding, bobSession), "identity_in_use")
	})
	t.Run("DeactivatedUser", func(t *testing.T) {
		e, _ := oidcEnv(t, nil)
		f := e.begin("corp")
		u, _ := e.wantSignedIn(e.finish(f, false, nil, f.binding), "new@example.com")
		off := false
		if _, err := e.st.UpdateUser(ctx, u.ID, gateway.UserPatch{Active: &off}); err != nil {
			t.Fatal(err)
		}
		f = e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "account_disabled")
	})
	t.Run("LogsNoSecrets", func(t *testing.T) {
		e, is := oidcEnv(t, nil)
		f := e.begin("corp")
		e.wantSignedIn(e.finish(f, false, nil, f.binding), "new@example.com")
		f = e.begin("corp")
		wantLoginError(t, e.finish(f, false, nil), "invalid_state")
		if !strings.Contains(e.logs.String(), "error_code=invalid_state") {
			t.Fatalf("the failure was not logged:\n%s", e.logs.String())
		}
		e.assertNoSecretsLogged(append(is.Secrets(), is.ClientSecret(), f.binding.Value)...)
	})
}
