package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/oauth"
	"github.com/tollgate/tollgate/internal/oauth/oauthtest"
)

func githubEnv(t *testing.T) (*env, *oauthtest.GitHub) {
	gh := oauthtest.NewGitHub(t)
	clk := &clock{t: time.Now()}
	e := newEnv(t, clk, oauth.Provider{Name: "github", Type: oauth.TypeGitHub, ClientID: gh.ClientID(), ClientSecret: gateway.Secret(gh.ClientSecret()),
		AutoRegister: true, Endpoint: gh.Endpoint(), APIURL: gh.APIURL()})
	t.Cleanup(func() {
		vals := append([]string{gh.ClientSecret()}, gh.Secrets()...)
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
		gh.SetEmails(oauthtest.Email{Email: "octo@example.com", Primary: true, Verified: false},
			oauthtest.Email{Email: "other@example.com", Primary: false, Verified: false})
		f := e.begin("github")
		wantLoginError(t, e.finish(f, false, nil, f.binding), "email_not_verified")
		if e.userCount() != 1 {
			t.Fatal("a user was created")
		}
		// A verified secondary email is used when the primary is not.
		gh.SetEmails(oauthtest.Email{Email: "octo@example.com", Primary: true, Verified: false},
			oauthtest.Email{Email: "second@example.com", Primary: false, Verified: true})
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

func appleEnv(t *testing.T) (*env, *oauthtest.Issuer) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	key := oauthtest.NewAppleKey(t)
	apple := oauthtest.Apple{ClientID: "com.example.tollgate", TeamID: "TEAM123456", KeyID: "KEY1234567", Key: &key.PublicKey}
	is := oauthtest.NewAppleIssuer(t, clk.Now, apple)
	e := newEnv(t, clk, oauth.Provider{Name: "apple", Type: oauth.TypeApple, ClientID: apple.ClientID, Issuer: is.URL(),
		TeamID: apple.TeamID, KeyID: apple.KeyID, PrivateKey: key, AutoRegister: true})
	t.Cleanup(func() { e.assertNoSecretsLogged(is.Secrets()...) })
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
		if is.TokenErrors() != 0 {
			t.Fatalf("token endpoint refused %d requests", is.TokenErrors())
		}
	})
	t.Run("UnverifiedEmail", func(t *testing.T) {
		e, is := appleEnv(t)
		is.SetAccount(oauthtest.Account{Sub: "001.apple", Email: "new@example.com", Verified: false})
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
