package proxy

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzValidMatchesStdlib checks that gjson.ValidBytes, which the request
// parser uses because it is four times faster on large bodies, accepts
// exactly what encoding/json.Valid accepts.
func FuzzValidMatchesStdlib(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi \u00e9 \n"}]}`,
		`{"a":1e5,"b":-0.5,"c":[true,false,null],"d":{}}`,
		`{"a":01}`, `{"a":"\x01"}`, `{"a":1,}`, `[1,2]`, ` {} `, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}",
		`{"a":1.}`, `{"a":.5}`, `{"a":"\q"}`, `{} {}`, `{"a":-}`, `{"a":1E+2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if std, fast := json.Valid(b), gjson.ValidBytes(b); std != fast {
			t.Fatalf("json.Valid = %v, gjson.ValidBytes = %v for %q", std, fast, b)
		}
	})
}
