package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tollgate/tollgate/internal/gateway"
)

func deep(open, close string, n int) []byte {
	return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
}

func TestCheck(t *testing.T) {
	t.Parallel()
	api := Options{MaxDepth: MaxDepthAPI, UniqueKeys: true}
	v1 := Options{MaxDepth: MaxDepthV1}
	for _, tc := range []struct {
		name      string
		body      string
		opt       Options
		wantErr   bool
		wantParam string
		wantMsg   string
	}{
		{name: "Object", body: `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, opt: api},
		{name: "SpaceAround", body: " \t\r\n{} \n", opt: api},
		{name: "Scalar", body: `"x"`, opt: api},
		{name: "Numbers", body: `[0,-0,1.5,-2e10,3E+2,4e-2,123456789]`, opt: api},
		{name: "Escapes", body: `{"a":"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, opt: api},
		{name: "InvalidUTF8Accepted", body: "{\"a\":\"\xff\"}", opt: api},
		{name: "Empty", body: ``, opt: api, wantErr: true, wantMsg: "request body is not valid JSON"},
		{name: "Truncated", body: `{"a":`, opt: api, wantErr: true},
		{name: "TrailingComma", body: `{"a":1,}`, opt: api, wantErr: true},
		{name: "TrailingCommaArray", body: `[1,]`, opt: api, wantErr: true},
		{name: "TwoValues", body: `{} {}`, opt: api, wantErr: true},
		{name: "LeadingZero", body: `01`, opt: api, wantErr: true},
		{name: "BareDot", body: `1.`, opt: api, wantErr: true},
		{name: "BadEscape", body: `"\q"`, opt: api, wantErr: true},
		{name: "ShortUnicode", body: `"\u12"`, opt: api, wantErr: true},
		{name: "ControlChar", body: "\"a\x01\"", opt: api, wantErr: true},
		{name: "KeyNotString", body: `{1:2}`, opt: api, wantErr: true},
		{name: "MissingColon", body: `{"a" 1}`, opt: api, wantErr: true},
		{name: "BadLiteral", body: `tru`, opt: api, wantErr: true},
		{name: "DepthAtLimit", body: string(deep("[", "]", MaxDepthAPI)), opt: api},
		{name: "DepthOverLimit", body: string(deep("[", "]", MaxDepthAPI+1)), opt: api, wantErr: true,
			wantMsg: "request body nests deeper than 128 levels"},
		{name: "ObjectsOverLimit", body: strings.Repeat(`{"a":`, MaxDepthAPI+1) + "1" + strings.Repeat("}", MaxDepthAPI+1),
			opt: api, wantErr: true, wantMsg: "request body nests deeper than 128 levels"},
		{name: "V1DepthAtLimit", body: string(deep("[", "]", MaxDepthV1)), opt: v1},
		{name: "V1DepthOverLimit", body: string(deep("[", "]", MaxDepthV1+1)), opt: v1, wantErr: true,
			wantMsg: "request body nests deeper than 512 levels"},
		{name: "Duplicate", body: `{"name":"a","name":"b"}`, opt: api, wantErr: true, wantParam: "body.name", wantMsg: `duplicate key "name"`},
		{name: "DuplicateFolded", body: `{"role":"admin","ROLE":"viewer"}`, opt: api, wantErr: true, wantParam: "body.ROLE"},
		{name: "DuplicateEscaped", body: `{"model":"a","mod\u0065l":"b"}`, opt: api, wantErr: true, wantParam: "body.model"},
		{name: "DuplicateKelvin", body: `{"k":1,"` + "\u212a" + `":2}`, opt: api, wantErr: true, wantParam: "body.\u212a"},
		{name: "DuplicateNested", body: `{"x":[{"k":1,"k":2}]}`, opt: api, wantErr: true, wantParam: "body.k"},
		{name: "SameKeyInSiblings", body: `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":1}]}`, opt: api},
		{name: "DuplicatesAllowedWithoutUnique", body: `{"a":1,"a":2}`, opt: v1},
		{name: "ManyDistinctKeys", body: `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18}`, opt: api},
		{name: "ManyKeysOneDup", body: `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"A":18}`, opt: api, wantErr: true, wantParam: "body.A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.body), tc.opt)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var ge *gateway.Error
			if !errors.As(err, &ge) {
				t.Fatalf("Check = %v, want *gateway.Error", err)
			}
			if ge.Kind != gateway.KindInvalid || ge.Code != "invalid_json" || ge.Param != tc.wantParam {
				t.Fatalf("error = %v/%s/%q, want invalid/invalid_json/%q", ge.Kind, ge.Code, ge.Param, tc.wantParam)
			}
			if tc.wantMsg != "" && ge.Message != tc.wantMsg {
				t.Fatalf("message = %q, want %q", ge.Message, tc.wantMsg)
			}
		})
	}
}

// TestCheckHostileSizes runs the documents of the security review through
// Check: millions of levels, a million keys, one long string. Each is
// answered (refused or accepted) without recursion; the depth ones stop at
// the limit, so their cost does not depend on the rest of the document.
func TestCheckHostileSizes(t *testing.T) {
	t.Parallel()
	api := Options{MaxDepth: MaxDepthAPI, UniqueKeys: true}
	t.Run("DeepArrays2_5M", func(t *testing.T) {
		d := 2_500_000
		body := []byte(`{"email":` + strings.Repeat("[", d) + strings.Repeat("]", d) + `}`)
		if err := Check(body, api); err == nil || err.(*gateway.Error).Message != "request body nests deeper than 128 levels" {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("DeepObjectsUnclosed8M", func(t *testing.T) {
		body := bytes.Repeat([]byte(`{"a":`), 8_000_000/5)
		if err := Check(body, Options{MaxDepth: MaxDepthV1}); err == nil || err.(*gateway.Error).Message != "request body nests deeper than 512 levels" {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("WideMillionKeys", func(t *testing.T) {
		body := wideObject(1_000_000, false)
		capped := Options{MaxDepth: MaxDepthAPI, UniqueKeys: true, MaxKeys: MaxKeysAPI}
		if err := Check(body, capped); err == nil || err.(*gateway.Error).Message != "request body has an object of more than 1000 keys" {
			t.Fatalf("Check(capped) = %v", err)
		}
		if err := Check(wideObject(MaxKeysAPI-1, false), capped); err != nil {
			t.Fatalf("Check(1000 keys) = %v", err)
		}
		if err := Check(body, api); err != nil {
			t.Fatalf("Check = %v", err)
		}
		dup := wideObject(1_000_000, true)
		if err := Check(dup, api); err == nil || err.(*gateway.Error).Param != "body.K0" {
			t.Fatalf("Check(dup) = %v, want body.K0", err)
		}
	})
	t.Run("LongString", func(t *testing.T) {
		// 8 MiB here; cmd/tollgate's TestHostileJSONBodies sends 30 MiB
		// through the real server.
		body := []byte(`{"a":"` + strings.Repeat("x", 8<<20) + `"}`)
		if err := Check(body, api); err != nil {
			t.Fatalf("Check = %v", err)
		}
	})
}

// wideObject is {"k0":0,"k1":0,...}, with a last key "K0" when dup is set.
func wideObject(n int, dup bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(itoa(i))
		b.WriteString(`":0`)
	}
	if dup {
		b.WriteString(`,"K0":1`)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d [20]byte
	p := len(d)
	for ; i > 0; i /= 10 {
		p--
		d[p] = byte('0' + i%10)
	}
	return string(d[p:])
}

// FuzzCheck holds Check to its references: with no depth limit reached it
// accepts exactly what encoding/json.Valid accepts, and with UniqueKeys it
// refuses exactly the documents in which encoding/json would match two keys
// of one object to the same name.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi \u00e9 \n"}]}`,
		`{"a":1e5,"b":-0.5,"c":[true,false,null],"d":{}}`,
		`{"a":01}`, `{"a":"\x01"}`, `{"a":1,}`, `[1,2]`, ` {} `, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{"a":1.}`, `{"a":.5}`, `{"a":"\q"}`, `{} {}`, `{"a":-}`, `{"a":1E+2}`,
		`{"role":"a","ROLE":"b"}`, `{"k":1,"\u212a":2}`, `{"s":1,"ſ":2}`, `{"x":{"a":1},"y":{"a":1}}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Large documents are FuzzCheckShapes' job; small ones keep the
		// fuzzer's minimising (quadratic in the input) short.
		if len(b) > 4<<10 {
			return
		}
		err := Check(b, Options{MaxDepth: maxDepthCap})
		if valid := json.Valid(b); valid != (err == nil) && !tooDeep(err) {
			t.Fatalf("Check = %v, json.Valid = %v for %q", err, valid, b)
		}
		if err != nil {
			return
		}
		uerr := Check(b, Options{MaxDepth: maxDepthCap, UniqueKeys: true})
		if want := refDuplicate(t, b); (uerr != nil) != want {
			t.Fatalf("Check(unique) = %v, reference duplicate = %v for %q", uerr, want, b)
		}
	})
}

func tooDeep(err error) bool {
	var ge *gateway.Error
	return errors.As(err, &ge) && strings.HasPrefix(ge.Message, "request body nests deeper")
}

// refDuplicate is the reference duplicate check: encoding/json's tokens,
// keys compared with foldEqual against every earlier key of their object.
func refDuplicate(t *testing.T, b []byte) bool {
	type frame struct {
		keys    []string // nil for an array
		object  bool
		wantKey bool
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []*frame
	valueDone := func() {
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			top := stack[n-1]
			if k, ok := tok.(string); ok {
				for _, seen := range top.keys {
					if foldEqual(seen, k) {
						return true
					}
				}
				top.keys = append(top.keys, k)
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		valueDone()
		if len(stack) == 0 {
			return false
		}
	}
}

func BenchmarkCheckV1(b *testing.B) {
	body := chatBody(1 << 20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, Options{MaxDepth: MaxDepthV1}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckLongString is a body of one long message, as bench/'s
// 1 MiB scenario sends: the string scan is the whole cost.
func BenchmarkCheckLongString(b *testing.B) {
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 1<<20) + `"}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, Options{MaxDepth: MaxDepthV1}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckAPIUnique(b *testing.B) {
	body := []byte(`{"email":"admin@example.com","password":"correct horse battery staple","display_name":"Admin"}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(body, Options{MaxDepth: MaxDepthAPI, UniqueKeys: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// chatBody is a chat completion request of about size bytes.
func chatBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"m","stream":true,"messages":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"role":"user","content":"The quick brown fox jumps over the lazy dog \u00e9 \"quoted\" 12345."}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkGJSONValid is the baseline Check replaced on /v1.
func BenchmarkGJSONValid(b *testing.B) {
	body := chatBody(1 << 20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !gjson.ValidBytes(body) {
			b.Fatal("invalid")
		}
	}
}

// FuzzCheckShapes builds the hostile shapes of the security review from
// the fuzzer's numbers (deep arrays, deep objects, wide objects, long
// strings, up to 2^21 of each, at any nesting point) and holds Check to
// the right verdict and to bounded memory: what it allocates is at most
// 32 bytes per key plus a constant, whatever the depth or length (no
// stack or buffer growing with the document).
func FuzzCheckShapes(f *testing.F) {
	for _, seed := range []struct {
		kind  uint8
		n, at uint32
	}{{0, 2_500_000, 0}, {1, 1_000_000, 3}, {2, 1_000_000, 0}, {3, 30 << 20, 1}, {2, 999, 5}, {0, 128, 0}, {1, 129, 0}} {
		f.Add(seed.kind, seed.n, seed.at)
	}
	f.Fuzz(func(t *testing.T, kind uint8, n, at uint32) {
		n = max(n%(1<<21), 1)
		at %= 16
		prefix := strings.Repeat(`{"a":[`, int(at)) // nesting around the shape
		suffix := strings.Repeat(`]}`, int(at))
		var shape string
		var depth, keys int
		switch kind % 4 {
		case 0:
			shape, depth = string(deep("[", "]", int(n))), int(n)
		case 1:
			shape, depth = strings.Repeat(`{"k":`, int(n))+"0"+strings.Repeat("}", int(n)), int(n)
		case 2:
			shape, depth, keys = string(wideObject(int(n), false)), 1, int(n)
		case 3:
			shape = `"` + strings.Repeat("x", int(n)) + `"`
		}
		body := []byte(prefix + shape + suffix)
		opt := Options{MaxDepth: MaxDepthAPI, UniqueKeys: true, MaxKeys: MaxKeysAPI}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := Check(body, opt)
		runtime.ReadMemStats(&after)
		tooDeep := 2*int(at)+depth > MaxDepthAPI
		tooWide := keys > MaxKeysAPI
		switch {
		case (tooDeep || tooWide) && err == nil:
			t.Fatalf("kind %d n %d at %d: accepted", kind%4, n, at)
		case !tooDeep && !tooWide && err != nil:
			t.Fatalf("kind %d n %d at %d: %v", kind%4, n, at, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(32*min(keys, MaxKeysAPI)+64<<10) {
			t.Fatalf("kind %d n %d at %d: Check allocated %d bytes", kind%4, n, at, grew)
		}
	})
}
