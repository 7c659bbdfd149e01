package proxy

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
)

// FuzzParseChatRequest feeds the /v1 body parser any bytes. It never
// panics; it answers only *gateway.Error of kind Invalid; what it accepts is
// a valid JSON object; and the upstream body it builds is valid JSON that
// carries the routed model and, for a stream, include_usage true, while the
// gateway's own reading of model and stream is what encoding/json reads.
func FuzzParseChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"fast","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"fast","stream":true}`,
		`{"model":"fast","stream":true,"stream_options":null}`,
		`{"model":"fast","stream":true,"stream_options":{}}`,
		`{"model":"fast","stream":true,"stream_options":{"include_usage":false,"x":1}}`,
		`{"Model":"fast","STREAM":true}`,
		`{"model":"fast","User":"u"}`,
		`{"mod\u0065l":"f\u0061st"}`,
		`{"model":"a","model":"b"}`,
		`[[[[[[[[]]]]]]]]`,
		`{"model":"fast","x":[[[[{"a":[]}]]]]}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, app bool) {
		p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", EndUserMode: app, EndUserID: "u"}
		cr, err := parseChatRequest(body, p)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalid {
				t.Fatalf("error %v is not an Invalid *gateway.Error", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var std struct {
			Model  string `json:"model"`
			Stream *bool  `json:"stream"`
		}
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("accepted %q, which encoding/json cannot read: %v", body, err)
		}
		if std.Model != cr.model {
			t.Fatalf("gateway read model %q, encoding/json reads %q in %q", cr.model, std.Model, body)
		}
		if std.Stream != nil && *std.Stream != cr.stream {
			t.Fatalf("gateway read stream %v, encoding/json reads %v in %q", cr.stream, *std.Stream, body)
		}
		out := cr.upstreamBody(body, []byte(`"routed"`), nil).Bytes()
		var up struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(out, &up); err != nil || up.Model != "routed" {
			t.Fatalf("upstream body %q: model %q, err %v; want \"routed\"", out, up.Model, err)
		}
		if cr.stream {
			var up struct {
				SO struct {
					IU bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			if err := json.Unmarshal(out, &up); err != nil || !up.SO.IU {
				t.Fatalf("stream upstream body %q lacks include_usage true (err %v)", out, err)
			}
		}
	})
}
