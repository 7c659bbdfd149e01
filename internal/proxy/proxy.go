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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// Model routes a client-facing model name to a provider.
type Model struct {
	// Name is the model clients ask for.
	Name string
	// UpstreamModel is the provider's name for it; "" means Name.
	UpstreamModel string
	Provider      llm.Provider
	// Fallbacks name other Models, tried in order when this one fails
	// before answering.
	Fallbacks []string
	// Price is what the model costs per million tokens; a usage record is
	// priced at the model that served it.
	Price gateway.Price
	// MaxOutputTokens is the most a completion may produce; budgets
	// reserve it for requests without max_tokens (0: DefaultMaxOutputTokens).
	MaxOutputTokens int64
}

// DefaultMaxOutputTokens is reserved for a request without max_tokens of a
// model whose MaxOutputTokens is not configured.
const DefaultMaxOutputTokens = 4096

// TokenCharger charges the tokens a completion used to the token budgets
// of whoever asked for it; *ratelimit.Enforcer is one.
type TokenCharger interface {
	// ChargeTokens charges tokens (prompt plus completion) to the budgets
	// of principal p's requests on route, the matched route pattern of
	// the request that ran the completion ("" when there is none:
	// Complete's callers do not pass theirs yet, so a route budget on a
	// conversation route is checked but not charged).
	ChargeTokens(ctx context.Context, p *gateway.Principal, route string, tokens int64) error
}

// Admitter admits a request before any upstream call (budgets and
// max_parallel, SPEC 5.1); *budget.Service is one. Admit gets the
// request's worst case (tokens and their cost) and returns the request's
// hold (nil: nothing to settle or release) or the refusal. The proxy puts
// the hold's settlement on the request's usage record (the usage writer
// settles it) and ends the hold when the request ends.
type Admitter interface {
	Admit(ctx context.Context, p *gateway.Principal, tokens int64, cost gateway.Micros) (*gateway.Admission, error)
}

// Options configure a Proxy.
type Options struct {
	// Models is the routing table, in the order Models lists it.
	Models []Model
	// Usage receives one record per completion; nil records nothing.
	Usage UsageRecorder
	// Tokens is charged in the request's goroutine after each completion
	// that used tokens; nil charges nothing. A failure is logged.
	Tokens TokenCharger
	// Admitter admits every request before its upstream call and settles
	// it after; nil admits everything.
	Admitter Admitter
	// Registerer takes the proxy's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// ResponseIDs records who created each Responses API id, shared by
	// every instance; nil keeps them in this instance's memory only.
	ResponseIDs gateway.ResponseIDStore
	Log         *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ModelInfo describes a served model for GET /v1/models and /v1/info.
type ModelInfo struct {
	ID            string `json:"id"`
	Provider      string `json:"provider"`
	UpstreamModel string `json:"upstream_model"`
}

// Proxy serves chat completions. It is safe for concurrent use.
type Proxy struct {
	targets map[string]*target
	models  []ModelInfo
	usage   UsageRecorder
	tokens  TokenCharger
	admit   Admitter
	log     *slog.Logger
	now     func() time.Time
	closers []func()
	// responses remembers who created each Responses API id (responses.go).
	responses *responseIDs
}

// target is a configured model with its provider.
type target struct {
	name          string
	upstreamModel string
	quotedModel   []byte // upstreamModel as a JSON string
	provider      llm.Provider
	endpoints     []string // what provider serves (llm.Endpoints)
	price         gateway.Price
	maxOutput     int64
	fallbacks     []*target
	metrics       *targetMetrics
}

// New builds the routing table. It returns an error naming the entry of
// opt.Models for a model without a name or provider, a name listed twice,
// or a fallback that names no other model.
func New(opt Options) (*Proxy, error) {
	p := &Proxy{targets: map[string]*target{}, usage: opt.Usage, tokens: opt.Tokens, admit: opt.Admitter, log: opt.Log, now: opt.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.responses = &responseIDs{now: p.now, store: opt.ResponseIDs, targets: p.targets, log: p.log}
	m := newMetrics(opt.Registerer)
	closed := map[llm.Provider]bool{}
	for i, mc := range opt.Models {
		switch {
		case mc.Name == "":
			return nil, fmt.Errorf("proxy: Models[%d].Name: empty", i)
		case mc.Provider == nil:
			return nil, fmt.Errorf("proxy: Models[%d].Provider: nil for model %q", i, mc.Name)
		case p.targets[mc.Name] != nil:
			return nil, fmt.Errorf("proxy: Models[%d].Name: %q is listed twice", i, mc.Name)
		}
		up := mc.UpstreamModel
		if up == "" {
			up = mc.Name
		}
		q, _ := json.Marshal(up)
		prov := mc.Provider.Name()
		p.targets[mc.Name] = &target{
			name: mc.Name, upstreamModel: up, quotedModel: q, provider: mc.Provider,
			endpoints: llm.Endpoints(mc.Provider), price: mc.Price, maxOutput: mc.MaxOutputTokens,
			metrics: m.forTarget(mc.Name, prov),
		}
		if p.targets[mc.Name].maxOutput <= 0 {
			p.targets[mc.Name].maxOutput = DefaultMaxOutputTokens
		}
		p.models = append(p.models, ModelInfo{ID: mc.Name, Provider: prov, UpstreamModel: up})
		if c, ok := mc.Provider.(interface{ CloseIdleConnections() }); ok && !closed[mc.Provider] {
			closed[mc.Provider] = true
			p.closers = append(p.closers, c.CloseIdleConnections)
		}
	}
	for i, mc := range opt.Models {
		t := p.targets[mc.Name]
		for _, f := range mc.Fallbacks {
			ft, ok := p.targets[f]
			if !ok || ft == t {
				return nil, fmt.Errorf("proxy: Models[%d].Fallbacks: %q is no other configured model", i, f)
			}
			t.fallbacks = append(t.fallbacks, ft)
		}
	}
	return p, nil
}

// chargeTokens charges a completion's tokens to p's TokenCharger. A
// failure is logged, not returned: the answer was already given.
func (p *Proxy) chargeTokens(ctx context.Context, pr *gateway.Principal, route string, tokens int64) {
	if p.tokens == nil || tokens <= 0 {
		return
	}
	if err := p.tokens.ChargeTokens(ctx, pr, route, tokens); err != nil {
		p.log.WarnContext(ctx, "charge token budget", "err", err)
	}
}

// admission reserves the worst case of a request for first (its
// max_tokens, or the model's max_output_tokens, times n choices, plus a
// prompt estimate of one token per 4 bytes of the upstream body), priced
// at the dearest of first and its fallbacks.
func (p *Proxy) admission(ctx context.Context, pr *gateway.Principal, first *target, maxTokens, choices int64, bodyLen int) (*gateway.Admission, error) {
	if p.admit == nil {
		return nil, nil
	}
	out := maxTokens
	if out <= 0 {
		out = first.maxOutput
	}
	if choices > 1 {
		out *= choices
	}
	prompt := int64(bodyLen+3) / 4
	price := first.price
	for _, f := range first.fallbacks {
		price.Input, price.Output = max(price.Input, f.price.Input), max(price.Output, f.price.Output)
	}
	return p.admit.Admit(ctx, pr, prompt+out, price.Cost(prompt, out))
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
