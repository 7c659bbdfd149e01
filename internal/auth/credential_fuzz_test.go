package auth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a.b.c", "BEARER  x ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "", "Bearer a b", "Bearer tg_" + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseAuthorization(h)
		if !ok {
			if tok != "" {
				t.Fatalf("ParseAuthorization(%q) = %q, false; want empty token", h, tok)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("ParseAuthorization(%q) = %q: empty or contains space", h, tok)
		}
		if !strings.EqualFold(h[:6], "bearer") || !strings.Contains(h, tok) {
			t.Fatalf("ParseAuthorization(%q) = %q: not from a bearer header", h, tok)
		}
		again, ok := ParseAuthorization("Bearer " + tok)
		if !ok || again != tok {
			t.Fatalf("round trip of %q = %q, %v", tok, again, ok)
		}
	})
}

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc", "abc", true},
		{"bEaReR  a.b-c_d~e+f/g=", "a.b-c_d~e+f/g=", true},
		{"Bearer a b", "", false},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer   ", "", false},
		{"Bearerabc", "", false},
		{"Bearer \"abc\"", "", false},
	} {
		got, ok := ParseAuthorization(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzExtractCredential feeds arbitrary Authorization, X-API-Key and Cookie
// header values and query strings to ExtractCredential: it never panics,
// every refusal is a 400 or 401 gateway error, a credential in the query
// string is always refused, and an accepted credential is non-empty and
// comes from the header or cookie its transport names (the tollgate_session
// cookie only; other cookies are ignored).
func FuzzExtractCredential(f *testing.F) {
	key := "tg_" + strings.Repeat("A", 43)
	for _, s := range [][4]string{
		{"Bearer " + key, "", "", ""},
		{"", key, "", ""},
		{"", "", SessionCookie + "=abc", ""},
		{"Bearer a.b.c", "", "other=1; " + SessionCookie + "=abc", ""},
		{"Bearer x", "x", "", ""},
		{"Bearer x", "y", "", ""},
		{"", "", SessionCookie + "=a; " + SessionCookie + "=b", ""},
		{"", "", SessionCookie + "=", ""},
		{"", "", "theme=dark", ""},
		{"Basic abc", "", "", ""},
		{"", " ", "", ""},
		{"Bearer x", "", "", "api_key=x"},
		{"", "", "", "access_token=1&q=2"},
		{"", "", "", "%zz"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, authz, apiKey, cookie, query string) {
		h := http.Header{}
		if authz != "" {
			h["Authorization"] = []string{authz}
		}
		if apiKey != "" {
			h["X-Api-Key"] = []string{apiKey}
		}
		if cookie != "" {
			h["Cookie"] = []string{cookie}
		}
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: query}, Header: h}
		cred, err := ExtractCredential(r)
		q, _ := url.ParseQuery(query)
		for _, name := range queryCredentialParams {
			if q.Has(name) && err == nil {
				t.Fatalf("query %q carries %s but a credential was accepted", query, name)
			}
		}
		if err != nil {
			ge, ok := gateway.AsError(err)
			if !ok || cred != nil {
				t.Fatalf("error %v (cred %v), want a gateway error and no credential", err, cred)
			}
			switch ge.Code {
			case "invalid_field", "ambiguous_credentials":
				if ge.Kind != gateway.KindInvalid {
					t.Fatalf("%s has kind %v", ge.Code, ge.Kind)
				}
			case "missing_authorization", "invalid_authorization":
				if ge.Kind != gateway.KindUnauthenticated {
					t.Fatalf("%s has kind %v", ge.Code, ge.Kind)
				}
			default:
				t.Fatalf("unexpected code %s", ge.Code)
			}
			return
		}
		v := cred.Value.Reveal()
		if v == "" {
			t.Fatal("accepted an empty credential")
		}
		switch cred.Transport {
		case TransportBearer:
			if tok, ok := ParseAuthorization(authz); !ok || tok != v {
				t.Fatalf("bearer credential %q not from Authorization %q", v, authz)
			}
		case TransportAPIKey:
			if strings.TrimSpace(apiKey) != v {
				t.Fatalf("X-API-Key credential %q not from %q", v, apiKey)
			}
		case TransportSession:
			found := false
			for _, c := range r.CookiesNamed(SessionCookie) {
				found = found || c.Value == v
			}
			if !found {
				t.Fatalf("session credential %q is not a %s cookie of %q", v, SessionCookie, cookie)
			}
		default:
			t.Fatalf("unknown transport %d", cred.Transport)
		}
	})
}
