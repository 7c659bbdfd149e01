package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/oauth"
)

func githubEnv(t *testing.T) (*env, *fakeGitHub) {
	gh := newFakeGitHub(t)
	clk := &clock{t: time.Now()}
	e := newEnv(t, clk, oauth.Provider{Name: "github", Type: oauth.TypeGitHub, ClientID: gh.client, ClientSecret: gateway.Secret(gh.secret),
		AutoRegister: true, Endpoint: oauth2.Endpoint{AuthURL: gh.srv.URL + "/login/oauth/authorize",
			TokenURL: gh.srv.URL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}, APIURL: gh.srv.URL + "/api"})
	t.Cleanup(func() {
		gh.mu.Lock()
		vals := append([]string{gh.secret}, gh.seen...)
		gh.mu.Unlock()
		e.assertNoSecretsLogged(vals...)
	})
	return e, gh
}

func TestGitHub(t *testing.T) {
	ctx := context.Background()
	t.Run("FullFlow", func(t *testing.T) {
		e, _ := githubEnv(t)
		f := e.begin("github")
		auth, _ := f.start.Location()
		if got := auth.Query().Get("scope"); got != "read:user user:email" {
			t.Fatalf("scope = %q", got)
		}
		if auth.Query().Get("nonce") != "" {
			t.Fatal("github flow sends a nonce")
		}
		u, _ := e.wantSignedIn(e.finish(f, false, nil, f.binding), "octo@example.com")
		if u.Role != gateway.RoleContributor || u.DisplayName != "The Octocat" {
			t.Fatalf("user = %+v, want contributor (auth.default_role) The Octocat", u)
		}
		if id, err := e.st.UserIdentity(ctx, "github", "4242"); err != nil || id.UserID != u.ID {
			t.Fatalf("identity = %+v, %v", id, err)
		}
	})
	t.Run("OnlyVerifiedEmailsCount", func(t *testing.T) {
		e, gh := githubEnv(t)
		gh.mu.Lock()
		gh.emails = []map[string]any{{"email": "octo@example.com", "primary": true, "verified": false},
			{"email": "other@example.com", "primary": false, "verified": false}}
		gh.mu.Unlock()
		f := e.begin("github")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "email_not_verified")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
		// A verified secondary email is used when the primary is not.
		gh.mu.Lock()
		gh.emails = []map[string]any{{"email": "octo@example.com", "primary": true, "verified": false},
			{"email": "second@example.com", "primary": false, "verified": true}}
		gh.mu.Unlock()
		f = e.begin("github")
		e.wantSignedIn(e.finish(f, false, nil, f.binding), "second@example.com")
	})
	t.Run("ReplayedCode", func(t *testing.T) {
		e, _ := githubEnv(t)
		f := e.begin("github")
		e.wantSignedIn(e.finish(f, false, nil, f.binding), "octo@example.com")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "exchange_failed")
	})
	t.Run("WrongState", func(t *testing.T) {
		e, _ := githubEnv(t)
		f := e.begin("github")
		q := f.callback.Query()
		q.Set("state", "forged")
		wantLoginError(t, e.finish(f, false, q, f.binding), "invalid_state")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("ExistingEmailDoesNotTakeOver", func(t *testing.T) {
		e, _ := githubEnv(t)
		octo := gateway.User{Email: "octo@example.com", Role: gateway.RoleAdmin, Active: true, PasswordHash: "x"}
		if err := e.st.CreateUser(ctx, &octo); err != nil {
			t.Fatal(err)
		}
		f := e.begin("github")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "email_taken")
	})
}

func appleEnv(t *testing.T) (*env, *testIssuer) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	is := newTestIssuer(t, clk.Now)
	key := newAppleKey(t)
	is.apple, is.appleKey, is.teamID, is.keyID, is.client = true, &key.PublicKey, "TEAM123456", "KEY1234567", "com.example.tollgate"
	e := newEnv(t, clk, oauth.Provider{Name: "apple", Type: oauth.TypeApple, ClientID: is.client, Issuer: is.URL(),
		TeamID: is.teamID, KeyID: is.keyID, PrivateKey: key, AutoRegister: true})
	t.Cleanup(func() { e.assertNoSecretsLogged(is.secrets()...) })
	return e, is
}

func TestApple(t *testing.T) {
	t.Run("FormPostFlow", func(t *testing.T) {
		e, _ := appleEnv(t)
		f := e.begin("apple")
		if c := f.binding; c.SameSite != http.SameSiteNoneMode || !c.Secure || !c.HttpOnly {
			t.Fatalf("apple binding cookie = %+v, want SameSite=None, Secure, HttpOnly (it must survive Apple's cross-site POST)", c)
		}
		auth, _ := f.start.Location()
		if auth.Query().Get("response_mode") != "form_post" || auth.Query().Get("scope") != "name email" {
			t.Fatalf("authorize URL = %s", auth)
		}
		form := f.callback.Query()
		form.Set("user", `{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"new@example.com"}`)
		u, _ := e.wantSignedIn(e.finish(f, true, form, f.binding), "new@example.com")
		if u.DisplayName != "Ada Lovelace" {
			t.Fatalf("display name = %q", u.DisplayName)
		}
	})
	t.Run("ClientSecretRenewedBeforeExpiry", func(t *testing.T) {
		e, is := appleEnv(t)
		f := e.begin("apple")
		e.wantSignedIn(e.finish(f, true, nil, f.binding), "new@example.com")
		// 55 minutes later the hour-long secret is renewed; the issuer
		// would refuse an expired one.
		e.clock.Advance(55 * time.Minute)
		f = e.begin("apple")
		e.wantSignedIn(e.finish(f, true, nil, f.binding), "new@example.com")
		e.clock.Advance(55 * time.Minute)
		f = e.begin("apple")
		e.wantSignedIn(e.finish(f, true, nil, f.binding), "new@example.com")
		if is.tokenErr != 0 {
			t.Fatalf("token endpoint refused %d requests", is.tokenErr)
		}
	})
	t.Run("UnverifiedEmail", func(t *testing.T) {
		e, is := appleEnv(t)
		is.setAccount(idAccount{Sub: "001.apple", Email: "new@example.com", Verified: false})
		f := e.begin("apple")
		wantLoginError(t, e.finish(f, true, nil, f.binding), "email_not_verified")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
	t.Run("GETCallbackRefused", func(t *testing.T) {
		e, _ := appleEnv(t)
		f := e.begin("apple")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "invalid_request")
	})
	t.Run("QueryStateIgnoredOnFormPost", func(t *testing.T) {
		e, _ := appleEnv(t)
		f := e.begin("apple")
		u := *f.callback
		resp := e.do("POST", u.String(), url.Values{"code": {f.callback.Query().Get("code")}}, f.binding)
		wantLoginError(t, resp, "invalid_state")
	})
	t.Run("NoBindingCookie", func(t *testing.T) {
		e, _ := appleEnv(t)
		f := e.begin("apple")
		wantLoginError(t, e.finish(f, true, nil), "invalid_state")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
	})
}
