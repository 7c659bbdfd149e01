package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/proxy"
)

func TestProxyModels(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	noenv := func(string) string { return "" }
	t.Run("EchoWhenNoProviders", func(t *testing.T) {
		models, err := proxyModels(&config.Config{}, noenv, discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(models) != 1 || models[0].Name != "echo" || models[0].UpstreamModel != "echo" || models[0].Provider.Name() != "echo" {
			t.Fatalf("models = %+v, want echo served by the echo provider", models)
		}
	})
	t.Run("ConfigOrderAndSharedProviders", func(t *testing.T) {
		cfg := &config.Config{
			Providers: []config.Provider{{Name: "p1", Type: "openai", BaseURL: "http://127.0.0.1:1/v1"}, {Name: "e", Type: "echo"}},
			Models: []config.Model{{Name: "b", Provider: "p1", UpstreamModel: "up-b", Fallbacks: []string{"a"}},
				{Name: "a", Provider: "e"}, {Name: "c", Provider: "p1"}},
		}
		models, err := proxyModels(cfg, noenv, discard)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range models {
			got = append(got, m.Name+"/"+m.Provider.Name()+"/"+m.UpstreamModel+"/"+strings.Join(m.Fallbacks, "+"))
		}
		if want := "b/p1/up-b/a,a/e//,c/p1//"; strings.Join(got, ",") != want {
			t.Fatalf("models = %s, want %s", strings.Join(got, ","), want)
		}
		if models[0].Provider != models[2].Provider {
			t.Fatal("two models of one provider got two providers")
		}
		if _, err := proxy.New(proxy.Options{Models: models}); err != nil {
			t.Fatalf("proxy.New = %v", err)
		}
	})
	t.Run("ErrorsNameTheKey", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cfg  config.Config
			want string
		}{
			{"UnknownType", config.Config{Providers: []config.Provider{{Name: "x", Type: "bedrock"}}}, `providers[0].type: unknown type "bedrock"`},
			{"UnknownProvider", config.Config{Providers: []config.Provider{{Name: "e", Type: "echo"}},
				Models: []config.Model{{Name: "ok", Provider: "e"}, {Name: "m", Provider: "nope"}}}, `models[1].provider: unknown provider "nope"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := proxyModels(&tc.cfg, noenv, discard)
				if err == nil || err.Error() != tc.want {
					t.Fatalf("proxyModels = %v, want %s", err, tc.want)
				}
			})
		}
	})
	t.Run("APIKeyFromEnvironment", func(t *testing.T) {
		up := llmtest.NewT(t)
		var logs bytes.Buffer
		cfg := &config.Config{
			Providers: []config.Provider{
				{Name: "keyed", Type: "openai", BaseURL: up.URL, APIKeyEnv: "KEYED_KEY", Timeout: time.Minute},
				{Name: "unset", Type: "openai", BaseURL: up.URL, APIKeyEnv: "UNSET_KEY", Timeout: time.Minute},
			},
			Models: []config.Model{{Name: "k", Provider: "keyed"}, {Name: "u", Provider: "unset"}},
		}
		getenv := func(k string) string { return map[string]string{"KEYED_KEY": "sk-from-env"}[k] }
		models, err := proxyModels(cfg, getenv, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"Bearer sk-from-env", ""} {
			resp, err := models[i].Provider.Send(context.Background(), &llm.Request{Body: llm.BytesBody([]byte(`{"model":"m","messages":[]}`))})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if got := up.Next(t).Header.Get("Authorization"); got != want {
				t.Fatalf("%s: upstream Authorization = %q, want %q", models[i].Name, got, want)
			}
		}
		if !strings.Contains(logs.String(), "api_key_env is empty") || !strings.Contains(logs.String(), "UNSET_KEY") {
			t.Fatalf("log = %q, want a warning about UNSET_KEY", logs.String())
		}
	})
}
