// Package proxy routes OpenAI chat completions to the configured providers:
// model → provider routing, fallbacks before the first byte, streaming with
// per-chunk flushes, upstream error mapping (SPEC.md sections 1 and 6), usage
// capture and metrics. The HTTP handler decodes nothing itself: it hands the
// raw body and the principal to ChatCompletions, which writes the whole
// response or returns a *gateway.Error when nothing was written.
package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/config"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/echo"
	"github.com/tollgate/tollgate/internal/llm/openai"
)

// Options configure a Proxy.
type Options struct {
	// Providers and Models come from config. With no providers, the
	// built-in echo provider serves model "echo".
	Providers []config.Provider
	Models    []config.Model
	// Usage receives one record per completion; nil records nothing.
	Usage UsageRecorder
	// Registerer takes the proxy's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	Log        *slog.Logger
	// Getenv resolves providers' api_key_env; nil means os.Getenv.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnTokens is called in the request's goroutine after each completion
	// with the tokens it used (prompt + completion), for token budgets.
	// The context is the request's, detached from its cancellation.
	OnTokens func(ctx context.Context, tokens int64)
}

// ModelInfo describes a served model for GET /v1/models and /v1/info.
type ModelInfo struct {
	ID            string `json:"id"`
	Provider      string `json:"provider"`
	UpstreamModel string `json:"upstream_model"`
}

// Proxy serves chat completions. It is safe for concurrent use.
type Proxy struct {
	targets  map[string]*target
	models   []ModelInfo
	usage    UsageRecorder
	log      *slog.Logger
	now      func() time.Time
	closers  []func()
	onTokens func(ctx context.Context, tokens int64)
}

// target is a configured model with its provider.
type target struct {
	name          string
	upstreamModel string
	quotedModel   string // upstreamModel as a JSON string
	provider      llm.Provider
	fallbacks     []*target
	metrics       *targetMetrics
}

// New builds the routing table. It returns an error naming the config key
// for a provider of unknown type or a model that names an unknown provider
// or fallback (config.Validate catches these first).
func New(opt Options) (*Proxy, error) {
	p := &Proxy{targets: map[string]*target{}, usage: opt.Usage, log: opt.Log, now: opt.Now, onTokens: opt.OnTokens}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	getenv := opt.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	provs, models := opt.Providers, opt.Models
	if len(provs) == 0 {
		provs = []config.Provider{{Name: echo.Model, Type: "echo"}}
		models = []config.Model{{Name: echo.Model, Provider: echo.Model, UpstreamModel: echo.Model}}
	}
	byName := map[string]llm.Provider{}
	for i, pc := range provs {
		switch pc.Type {
		case "openai":
			var key gateway.Secret
			if pc.APIKeyEnv != "" {
				key = gateway.Secret(getenv(pc.APIKeyEnv))
				if key == "" {
					p.log.Warn("provider api_key_env is empty; sending no Authorization", "provider", pc.Name, "env", pc.APIKeyEnv)
				}
			}
			op := openai.New(openai.Options{Name: pc.Name, BaseURL: pc.BaseURL, APIKey: key, Timeout: pc.Timeout})
			p.closers = append(p.closers, op.CloseIdleConnections)
			byName[pc.Name] = op
		case "echo":
			byName[pc.Name] = echo.New(pc.Name, opt.Now)
		default:
			return nil, fmt.Errorf("proxy: providers[%d].type: unknown type %q", i, pc.Type)
		}
	}
	m := newMetrics(opt.Registerer)
	for i, mc := range models {
		prov, ok := byName[mc.Provider]
		if !ok {
			return nil, fmt.Errorf("proxy: models[%d].provider: unknown provider %q", i, mc.Provider)
		}
		up := mc.UpstreamModel
		if up == "" {
			up = mc.Name
		}
		q, _ := json.Marshal(up)
		p.targets[mc.Name] = &target{
			name: mc.Name, upstreamModel: up, quotedModel: string(q), provider: prov,
			metrics: m.forTarget(mc.Name, mc.Provider),
		}
		p.models = append(p.models, ModelInfo{ID: mc.Name, Provider: mc.Provider, UpstreamModel: up})
	}
	for i, mc := range models {
		t := p.targets[mc.Name]
		for _, f := range mc.Fallbacks {
			ft, ok := p.targets[f]
			if !ok || ft == t {
				return nil, fmt.Errorf("proxy: models[%d].fallbacks: %q is no other configured model", i, f)
			}
			t.fallbacks = append(t.fallbacks, ft)
		}
	}
	return p, nil
}

// Models lists the served models in config order.
func (p *Proxy) Models() []ModelInfo {
	return append([]ModelInfo(nil), p.models...)
}

// HasModel reports whether name is a served model.
func (p *Proxy) HasModel(name string) bool {
	_, ok := p.targets[name]
	return ok
}

// Close releases idle upstream connections.
func (p *Proxy) Close() {
	for _, c := range p.closers {
		c()
	}
}
