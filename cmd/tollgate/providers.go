package main

import (
	"fmt"
	"log/slog"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/anthropic"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/llm/openai"
	"github.com/tollgate/tollgate/internal/proxy"
)

// proxyModels builds the providers of cfg.Providers and the proxy's routing
// table of cfg.Models, in config order. With no provider configured, the
// built-in echo provider serves model "echo". An openai or anthropic provider's key is
// read from the environment variable api_key_env names (getenv); an empty
// one is logged and no Authorization is sent. Errors name the config key
// (config.Validate catches them first); fallbacks are checked by
// proxy.New.
func proxyModels(cfg *config.Config, getenv func(string) string, log *slog.Logger) ([]proxy.Model, error) {
	provs, models := cfg.Providers, cfg.Models
	if len(provs) == 0 {
		provs = []config.Provider{{Name: echo.Model, Type: "echo"}}
		models = []config.Model{{Name: echo.Model, Provider: echo.Model, UpstreamModel: echo.Model}}
	}
	byName := map[string]llm.Provider{}
	for i, pc := range provs {
		switch pc.Type {
		case "openai", "anthropic":
			var key gateway.Secret
			if pc.APIKeyEnv != "" {
				key = gateway.Secret(getenv(pc.APIKeyEnv))
				if key == "" {
					log.Warn("provider api_key_env is empty; sending no upstream key", "provider", pc.Name, "env", pc.APIKeyEnv)
				}
			}
			if pc.Type == "anthropic" {
				byName[pc.Name] = anthropic.New(anthropic.Options{Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key,
					Version: pc.AnthropicVersion, Timeout: pc.Timeout})
				break
			}
			byName[pc.Name] = openai.New(openai.Options{Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Timeout: pc.Timeout})
		case "echo":
			byName[pc.Name] = echo.New(pc.Name, nil)
		default:
			return nil, fmt.Errorf("providers[%d].type: unknown type %q", i, pc.Type)
		}
	}
	out := make([]proxy.Model, 0, len(models))
	for i, mc := range models {
		prov, ok := byName[mc.Provider]
		if !ok {
			return nil, fmt.Errorf("models[%d].provider: unknown provider %q", i, mc.Provider)
		}
		out = append(out, proxy.Model{Name: mc.Name, UpstreamModel: mc.UpstreamModel, Provider: prov, Fallbacks: mc.Fallbacks,
			Price:           gateway.Price{Input: gateway.PriceFromUnits(mc.InputPrice), Output: gateway.PriceFromUnits(mc.OutputPrice)},
			MaxOutputTokens: mc.MaxOutputTokens})
	}
	return out, nil
}
