package httpapi

import (
	"net/http"

	"github.com/tollgate/tollgate/internal/oauth"
)

// OAuth runs the OAuth 2.0 / OpenID Connect browser flows (*oauth.Service
// implements it). Both handlers answer
// every outcome with a redirect (to the provider, to "/", or to the login
// page with ?error=<code>) and return nil: a browser never sees a JSON
// error from them.
type OAuth interface {
	Providers() []oauth.ProviderInfo
	Start(w http.ResponseWriter, r *http.Request) error
	Callback(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) oauthRoutes() {
	o := s.opt.OAuth
	if o == nil {
		return
	}
	tags := []string{"auth"}
	name := []Param{{Name: "name", In: "path", Description: "the [[auth.oauth]] provider name"}}
	s.Handle(Route{
		Method: "GET", Path: "/api/auth/oauth/{name}", Access: Public, NoStore: true, OperationID: "oauthStart", Tags: tags,
		Summary: "Start signing in with an OAuth / OpenID Connect provider: 302 to the provider (state, PKCE S256, nonce bound to this browser by a cookie); ?link=1 links the provider identity to the signed-in user",
		Status:  http.StatusFound, ContentType: "text/html", Params: append(name, Param{Name: "link", In: "query", Description: "1: link to the signed-in user"}),
		Handler: o.Start,
	})
	callback := "OAuth callback: checks state and binding cookie, exchanges the code with the PKCE verifier, verifies the ID token or the GitHub account, signs in, 302 to / (errors: 302 to /login?error=<code>)"
	s.Handle(Route{
		Method: "GET", Path: "/api/auth/oauth/{name}/callback", Access: Public, NoStore: true, OperationID: "oauthCallback", Tags: tags,
		Summary: callback, Status: http.StatusFound, ContentType: "text/html", Params: name, Handler: o.Callback,
	})
	s.Handle(Route{
		Method: "POST", Path: "/api/auth/oauth/{name}/callback", Access: Public, NoStore: true, OperationID: "oauthCallbackFormPost", Tags: tags,
		Summary: callback + " (Sign in with Apple: response_mode=form_post)", Status: http.StatusFound, ContentType: "text/html", Params: name, Handler: o.Callback,
	})
}
