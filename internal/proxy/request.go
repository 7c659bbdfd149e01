package proxy

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jsonscan"
	"github.com/tollgate/tollgate/internal/llm"
)

// chatRequest is what the proxy reads of a chat completion body: model,
// stream and stream_options, plus where they sit so the upstream body can be
// spliced without re-encoding anything else.
type chatRequest struct {
	model      string
	stream     bool
	wantsUsage bool // the client asked for stream_options.include_usage

	objStart           int // offset of the top-level '{'
	modelStart, modEnd int // span of model's value
	so                 soState
	soStart, soEnd     int // span of stream_options' value
	soEmpty            bool
	iuStart, iuEnd     int // span of stream_options.include_usage's value
	iuTrue             bool

	// maxTokens is the request's max_tokens or max_completion_tokens (0:
	// none); choices its n (at least 1). Budgets reserve from them.
	maxTokens int64
	choices   int64
}

type soState uint8

const (
	soAbsent soState = iota
	soNull
	soObject
)

// chatParser reads the fields parseChatRequest needs from the top-level
// members jsonscan.Check hands it (jsonscan.MemberReader). view is the
// body as a string: the body is not modified while it is in use, and
// every string kept past parsing is cloned.
type chatParser struct {
	cr                chatRequest
	view              string
	app               bool         // an app credential: user and user_id are refused
	model, stream, so gjson.Result // Index is the value's offset in the body
	err               error        // the first field error
}

// Member implements jsonscan.MemberReader.
func (p *chatParser) Member(m jsonscan.Member) {
	if p.err != nil {
		return
	}
	name := p.view[m.KeyStart:m.KeyEnd]
	if m.Escaped {
		name = gjson.Parse(p.view[m.KeyStart-1 : m.KeyEnd+1]).String()
	}
	value := gjson.Parse(p.view[m.ValueStart:m.ValueEnd])
	value.Index = m.ValueStart
	var slot *gjson.Result
	switch {
	case strings.EqualFold(name, "model"):
		slot = &p.model
	case strings.EqualFold(name, "stream"):
		slot = &p.stream
	case strings.EqualFold(name, "stream_options"):
		slot = &p.so
	case name == "max_tokens" || name == "max_completion_tokens":
		if value.Type == gjson.Number && value.Int() > p.cr.maxTokens {
			p.cr.maxTokens = value.Int()
		}
		return
	case name == "n":
		if value.Type == gjson.Number && value.Int() > 1 {
			p.cr.choices = min(value.Int(), 128)
		}
		return
	case p.app && (strings.EqualFold(name, "user") || strings.EqualFold(name, "user_id")):
		p.err = gateway.Invalid("invalid_field", "body."+name, "App credentials name the end user in the end-user header, not in \""+name+"\".")
		return
	default:
		return
	}
	if slot.Exists() {
		p.err = gateway.Invalid("invalid_json", "body."+name, "Duplicate key \""+name+"\" in request body.")
		return
	}
	*slot = value
}

// parseChatRequest validates body as a JSON object and reads the fields the
// proxy needs, in one pass over the body: jsonscan.Check hands each
// top-level member to the reader as its value ends, and only the values
// of the fields below are parsed (gjson, on the member's own bytes).
// Nesting deeper than 512 levels is refused before anything recursive
// reads the body. Field names are matched as encoding/json matches
// them (case-insensitively), so an upstream that does the same cannot read
// another value than the gateway did: a key that folds to model, stream or
// stream_options is that field, and a second one is a duplicate (400
// invalid_json). For app credentials the body fields user and user_id, in
// any case, are rejected (SPEC 2.6). Errors are *gateway.Error of kind
// Invalid.
func parseChatRequest(body []byte, principal *gateway.Principal) (*chatRequest, error) {
	// One allocation holds the result and the reading state.
	p := &chatParser{view: unsafe.String(unsafe.SliceData(body), len(body)), app: principal != nil && principal.EndUserMode}
	defer func() { p.view = "" }()
	cr := &p.cr
	if err := jsonscan.Check(body, jsonscan.Options{MaxDepth: jsonscan.MaxDepthV1, Members: p}); err != nil {
		return nil, err
	}
	cr.objStart = len(body) - len(bytes.TrimLeft(body, " \t\r\n"))
	if cr.objStart >= len(body) || body[cr.objStart] != '{' {
		return nil, gateway.Invalid("invalid_json", "", "Request body must be a JSON object.")
	}
	if p.err != nil {
		return nil, p.err
	}
	model, stream, so := p.model, p.stream, p.so
	var err error

	if err := checkModelAndStream(model, stream); err != nil {
		return nil, err
	}
	cr.model = strings.Clone(model.Str)
	cr.modelStart, cr.modEnd = model.Index, model.Index+len(model.Raw)
	cr.stream = stream.Type == gjson.True

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
		gjson.Parse(so.Raw).ForEach(func(key, value gjson.Result) bool {
			cr.soEmpty = false
			if !strings.EqualFold(key.String(), "include_usage") {
				return true
			}
			if cr.iuStart >= 0 {
				err = gateway.Invalid("invalid_json", "body.stream_options.include_usage", "Duplicate key \"include_usage\" in stream_options.")
				return false
			}
			cr.iuStart = cr.soStart + value.Index // value.Index is relative to so.Raw
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

// edit replaces body[start:end] with text.
type edit struct {
	start, end int
	text       []byte
}

// The texts of the stream_options edits.
var (
	addStreamOptions = []byte(`"stream_options":{"include_usage":true},`)
	includeUsageObj  = []byte(`{"include_usage":true}`)
	addIncludeUsage  = []byte(`"include_usage":true,`)
	jsonTrue         = []byte(`true`)
)

// upstreamBody is body with model set to quotedModel (a JSON string)
// and, for streams, stream_options.include_usage set to true.
func (cr *chatRequest) upstreamBody(body, quotedModel []byte, keep llm.Retainer) llm.Body {
	var edits [2]edit
	n := 0
	edits[n] = edit{cr.modelStart, cr.modEnd, quotedModel}
	n++
	if cr.stream && !cr.iuTrue {
		switch cr.so {
		case soAbsent:
			edits[n] = edit{cr.objStart + 1, cr.objStart + 1, addStreamOptions}
		case soNull:
			edits[n] = edit{cr.soStart, cr.soEnd, includeUsageObj}
		case soObject:
			switch {
			case cr.iuStart >= 0:
				edits[n] = edit{cr.iuStart, cr.iuEnd, jsonTrue}
			case cr.soEmpty:
				edits[n] = edit{cr.soStart, cr.soEnd, includeUsageObj}
			default:
				edits[n] = edit{cr.soStart + 1, cr.soStart + 1, addIncludeUsage}
			}
		}
		n++
	}
	if n == 2 && edits[1].start < edits[0].start {
		edits[0], edits[1] = edits[1], edits[0]
	}
	return splice(body, edits[:n], keep)
}

// splice is body with its edits (in order, not overlapping) applied: the
// spans of body between them and their texts, sent one after the other
// without copying body (keep holds body's memory, see llm.Body).
func splice(body []byte, edits []edit, keep llm.Retainer) llm.Body {
	parts := make([][]byte, 0, 2*len(edits)+1)
	pos := 0
	for _, e := range edits {
		parts = append(parts, body[pos:e.start], e.text)
		pos = e.end
	}
	return llm.Body{Parts: append(parts, body[pos:]), Keep: keep}
}

// checkModelAndStream validates the two members every proxied request
// body shares (chat, completions, embeddings, responses, messages): a
// non-empty UTF-8 string `model` and an optional boolean `stream`.
func checkModelAndStream(model, stream gjson.Result) error {
	switch {
	case !model.Exists():
		return gateway.Invalid("missing_field", "body.model", "model is required.")
	case model.Type != gjson.String || model.Str == "" || !utf8.ValidString(model.Str):
		return gateway.Invalid("invalid_field", "body.model", "model must be a non-empty UTF-8 string.")
	}
	switch stream.Type {
	case gjson.True, gjson.False, gjson.Null:
		return nil
	}
	return gateway.Invalid("invalid_field", "body.stream", "stream must be a boolean.")
}
