// Package anthropic is the provider for Anthropic's Messages API
// (POST {base_url}/messages). It is the openai package's HTTP provider
// with Anthropic's credential header (X-Api-Key instead of Authorization:
// Bearer) and the Anthropic-Version header, serving only the messages
// endpoint: the same fresh upstream requests (no client credentials), the
// same timeouts and the same transport error classes.
package anthropic

import (
	"net/http"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/openai"
)

// DefaultVersion is the anthropic-version header sent when none is
// configured.
const DefaultVersion = "2023-06-01"

// Options configure a provider.
type Options struct {
	Name    string
	BaseURL string // e.g. https://api.anthropic.com/v1
	APIKey  gateway.Secret
	// Version is the anthropic-version header ("" means DefaultVersion).
	Version   string
	Timeout   time.Duration
	Transport http.RoundTripper
}

// New returns a provider for opt.BaseURL.
func New(opt Options) *openai.Provider {
	v := opt.Version
	if v == "" {
		v = DefaultVersion
	}
	return openai.New(openai.Options{
		Name: opt.Name, BaseURL: opt.BaseURL, APIKey: opt.APIKey, Timeout: opt.Timeout, Transport: opt.Transport,
		Endpoints: []string{llm.EndpointMessages},
		KeyHeader: "X-Api-Key",
		Header:    http.Header{"Anthropic-Version": {v}},
	})
}
