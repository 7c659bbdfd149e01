package proxy

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// FuzzParseDialectRequest feeds the /v1/responses and /v1/messages body
// parser any bytes. It never panics; it answers only *gateway.Error of
// kind Invalid; what it accepts is a JSON object whose model and stream
// are what encoding/json reads; and the upstream body is valid JSON that
// differs only in carrying the routed model.
func FuzzParseDialectRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi","max_output_tokens":5}`,
		`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"}],"stream":true}`,
		`{"Model":"m","STREAM":true,"previous_response_id":"resp_1"}`,
		`{"model":"m","previous_response_id":3}`,
		`{"model":"m","conversation":"conv_1"}`,
		`{"model":"a","MODEL":"b"}`,
		`{"model":"m","user_id":"x"}`,
		`[1]`,
	} {
		f.Add([]byte(s), false, false)
	}
	f.Fuzz(func(t *testing.T, body []byte, app, messages bool) {
		d := dialects[llm.EndpointResponses]
		if messages {
			d = dialects[llm.EndpointMessages]
		}
		p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", EndUserMode: app, EndUserID: "u"}
		dr, err := parseDialectRequest(body, p, d)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalid {
				t.Fatalf("error %v is not an Invalid *gateway.Error", err)
			}
			return
		}
		var std struct {
			Model  string `json:"model"`
			Stream *bool  `json:"stream"`
		}
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("accepted %q, which encoding/json cannot read: %v", body, err)
		}
		if std.Model != dr.model || (std.Stream != nil && *std.Stream != dr.stream) {
			t.Fatalf("gateway read model %q stream %v, encoding/json reads %q %v in %q", dr.model, dr.stream, std.Model, std.Stream, body)
		}
		out := dr.upstreamBody(body, []byte(`"routed"`), nil).Bytes()
		var in, up map[string]any
		_ = json.Unmarshal(body, &in)
		if err := json.Unmarshal(out, &up); err != nil {
			t.Fatalf("upstream body %q is not JSON: %v", out, err)
		}
		for k, v := range in {
			if _, isModel := up[k].(string); isModel && v == dr.model && up[k] == "routed" {
				continue
			}
			a, _ := json.Marshal(v)
			b, _ := json.Marshal(up[k])
			if string(a) != string(b) {
				t.Fatalf("upstream body changed %q: %s → %s", k, a, b)
			}
		}
	})
}
