package proxy

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jsonscan"
)

// parseChatRequestTwoPass is the parser before the one-pass rewrite
// (jsonscan.Check, then gjson over the whole body), kept as the oracle
// FuzzParseOnePassMatchesTwoPass compares parseChatRequest with.
func parseChatRequestTwoPass(body []byte, principal *gateway.Principal) (*chatRequest, error) {
	if err := jsonscan.Check(body, jsonscan.Options{MaxDepth: jsonscan.MaxDepthV1}); err != nil {
		return nil, err
	}
	// The body is not modified while the view is in use, and every string
	// kept past this function is cloned.
	doc := gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body)))
	if !doc.IsObject() {
		return nil, gateway.Invalid("invalid_json", "", "Request body must be a JSON object.")
	}
	cr := &chatRequest{objStart: doc.Index}
	var model, stream, so gjson.Result
	var err error
	appCredential := principal != nil && principal.EndUserMode
	doc.ForEach(func(key, value gjson.Result) bool {
		name := key.String()
		var slot *gjson.Result
		switch {
		case strings.EqualFold(name, "model"):
			slot = &model
		case strings.EqualFold(name, "stream"):
			slot = &stream
		case strings.EqualFold(name, "stream_options"):
			slot = &so
		case name == "max_tokens" || name == "max_completion_tokens":
			if value.Type == gjson.Number && value.Int() > cr.maxTokens {
				cr.maxTokens = value.Int()
			}
			return true
		case name == "n":
			if value.Type == gjson.Number && value.Int() > 1 {
				cr.choices = min(value.Int(), 128)
			}
			return true
		case appCredential && (strings.EqualFold(name, "user") || strings.EqualFold(name, "user_id")):
			err = gateway.Invalid("invalid_field", "body."+name, "App credentials name the end user in the end-user header, not in \""+name+"\".")
			return false
		default:
			return true
		}
		if slot.Exists() {
			err = gateway.Invalid("invalid_json", "body."+name, "Duplicate key \""+name+"\" in request body.")
			return false
		}
		*slot = value
		return true
	})
	if err != nil {
		return nil, err
	}

	switch {
	case !model.Exists():
		return nil, gateway.Invalid("missing_field", "body.model", "model is required.")
	case model.Type != gjson.String || model.Str == "" || !utf8.ValidString(model.Str):
		return nil, gateway.Invalid("invalid_field", "body.model", "model must be a non-empty UTF-8 string.")
	}
	cr.model = strings.Clone(model.Str)
	cr.modelStart, cr.modEnd = model.Index, model.Index+len(model.Raw)

	switch stream.Type {
	case gjson.True:
		cr.stream = true
	case gjson.False, gjson.Null:
	default:
		return nil, gateway.Invalid("invalid_field", "body.stream", "stream must be a boolean.")
	}

	switch {
	case !so.Exists():
	case so.Type == gjson.Null:
		cr.so = soNull
		cr.soStart, cr.soEnd = so.Index, so.Index+len(so.Raw)
	case so.IsObject():
		cr.so = soObject
		cr.soStart, cr.soEnd = so.Index, so.Index+len(so.Raw)
		cr.soEmpty = true
		cr.iuStart = -1
		so.ForEach(func(key, value gjson.Result) bool {
			cr.soEmpty = false
			if !strings.EqualFold(key.String(), "include_usage") {
				return true
			}
			if cr.iuStart >= 0 {
				err = gateway.Invalid("invalid_json", "body.stream_options.include_usage", "Duplicate key \"include_usage\" in stream_options.")
				return false
			}
			cr.iuStart = value.Index // gjson indexes are absolute
			cr.iuEnd = cr.iuStart + len(value.Raw)
			cr.iuTrue = value.Type == gjson.True
			return true
		})
		if err != nil {
			return nil, err
		}
		cr.wantsUsage = cr.iuTrue
	default:
		if cr.stream {
			return nil, gateway.Invalid("invalid_field", "body.stream_options", "stream_options must be an object.")
		}
	}
	return cr, nil
}

// FuzzParseOnePassMatchesTwoPass: the one-pass parser reads exactly what
// the two-pass one did (every field and offset) and fails with the same
// error code and param.
func FuzzParseOnePassMatchesTwoPass(f *testing.F) {
	for _, s := range []string{
		`{"model":"fast","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"n":3}`,
		` {"model" : "fast","stream":true,"stream_options":{"x":1, "include_usage" :false}}`,
		`{"model":"fast","stream":true,"stream_options":null}`,
		`{"model":"fast","stream":true,"stream_options":{}}`,
		`{"Model":"fast","STREAM":true,"user":"u"}`,
		`{"mod\u0065l":"f\u0061st","model":"x"}`,
		`{"model":"a","stream":"yes"}`,
		`[1]`,
		`{"model":"fast","x":[[[[{"a":[]}]]]]}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, app bool) {
		p := &gateway.Principal{Kind: gateway.PrincipalKey, KeyID: "k", EndUserMode: app, EndUserID: "u"}
		got, gerr := parseChatRequest(body, p)
		want, werr := parseChatRequestTwoPass(body, p)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: one pass err %v, two passes err %v", body, gerr, werr)
		}
		if gerr != nil {
			g, _ := gateway.AsError(gerr)
			w, _ := gateway.AsError(werr)
			if g.Code != w.Code || g.Param != w.Param {
				t.Fatalf("%q: one pass %s %q, two passes %s %q", body, g.Code, g.Param, w.Code, w.Param)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\none pass  %+v\ntwo passes %+v", body, got, want)
		}
	})
}

// BenchmarkParse1MiB compares the one-pass parser with the previous
// two-pass one on a 1 MiB body, in the same run.
func BenchmarkParse1MiB(b *testing.B) {
	body := []byte(`{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}],"temperature":0.2}`)
	for _, bc := range []struct {
		name  string
		parse func([]byte, *gateway.Principal) (*chatRequest, error)
	}{{"OnePass", parseChatRequest}, {"TwoPass", parseChatRequestTwoPass}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := bc.parse(body, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
