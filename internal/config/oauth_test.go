package config

import (
	"strings"
	"testing"
)

const oauthBase = "[server]\npublic_url = \"https://gw.example.com\"\n"

func TestOAuthKeys(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		cfg, err := Load(Sources{File: writeFile(t, oauthBase+`
[[auth.oauth]]
name = "corp"
type = "oidc"
client_id = "tollgate"
client_secret_env = "CORP_SECRET"
issuer = "https://sso.example.com/realms/main"
scopes = ["openid", "email", "profile"]
allowed_email_domains = ["example.com"]
auto_register = true
default_role = "viewer"

[[auth.oauth]]
name = "github"
type = "github"
client_id = "Iv1.abc"
client_secret_env = "GH_SECRET"

[[auth.oauth]]
name = "apple"
type = "apple"
client_id = "com.example.tollgate"
team_id = "TEAM123456"
key_id = "KEY1234567"
private_key_file = "/etc/tollgate/apple.p8"
`)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(cfg.Auth.OAuth), 3; got != want {
			t.Fatalf("providers = %d, want %d", got, want)
		}
		c := cfg.Auth.OAuth[0]
		if c.Name != "corp" || !c.AutoRegister || c.DefaultRole != "viewer" || len(c.Scopes) != 3 || c.AllowedEmailDomains[0] != "example.com" {
			t.Fatalf("corp = %+v", c)
		}
		if cfg.Auth.OAuth[1].AutoRegister {
			t.Fatal("auto_register defaults to true, want false")
		}
		out, err := cfg.Print()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), "client_secret_env = 'CORP_SECRET'") || !strings.Contains(string(out), "public_url = 'https://gw.example.com'") {
			t.Fatalf("config print:\n%s", out)
		}
	})
	t.Run("PublicURLFromEnv", func(t *testing.T) {
		t.Chdir(t.TempDir())
		cfg, err := Load(Sources{Environ: []string{"TOLLGATE_SERVER_PUBLIC_URL=http://127.0.0.1:8080"}})
		if err != nil || cfg.Server.PublicURL != "http://127.0.0.1:8080" {
			t.Fatalf("public_url = %q, %v", cfg.Server.PublicURL, err)
		}
	})
	cases := []struct{ name, file, wantKey string }{
		{"NoPublicURL", "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\n", "server.public_url"},
		{"BadPublicURL", "[server]\npublic_url = \"gw.example.com\"\n", "server.public_url"},
		{"PublicURLTrailingSlash", "[server]\npublic_url = \"https://gw.example.com/\"\n", "server.public_url"},
		{"BadType", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"gitlab\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\n", "auth.oauth[0].type"},
		{"BadName", oauthBase + "[[auth.oauth]]\nname = \"Corp SSO\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\n", "auth.oauth[0].name"},
		{"DuplicateName", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\n[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\n", "auth.oauth[1].name"},
		{"NoClientID", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_secret_env = \"E\"\n", "auth.oauth[0].client_id"},
		{"NoSecretEnv", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\n", "auth.oauth[0].client_secret_env"},
		{"SecretInFile", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret = \"s\"\n", "client_secret"},
		{"OIDCWithoutIssuer", oauthBase + "[[auth.oauth]]\nname = \"o\"\ntype = \"oidc\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\n", "auth.oauth[0].issuer"},
		{"OIDCPlainHTTPIssuer", oauthBase + "[[auth.oauth]]\nname = \"o\"\ntype = \"oidc\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\nissuer = \"http://sso.example.com\"\n", "auth.oauth[0].issuer"},
		{"AppleWithoutKey", oauthBase + "[[auth.oauth]]\nname = \"a\"\ntype = \"apple\"\nclient_id = \"x\"\nteam_id = \"T\"\nkey_id = \"K\"\n", "auth.oauth[0].private_key_file"},
		{"BadRole", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\ndefault_role = \"owner\"\n", "auth.oauth[0].default_role"},
		{"BadDomain", oauthBase + "[[auth.oauth]]\nname = \"g\"\ntype = \"github\"\nclient_id = \"x\"\nclient_secret_env = \"E\"\nallowed_email_domains = [\"@example.com\"]\n", "auth.oauth[0].allowed_email_domains"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Sources{File: writeFile(t, tc.file)})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
}
