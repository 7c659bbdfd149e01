package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// hostileBodyRSSBound is what a hostile body of n bytes may add to the
// process's peak RSS: a constant plus a small multiple of the body (the
// server's copy, encoding/json's buffer and decoded string; the race
// detector's shadow memory and GC timing triple it). Before the iterative scan a
// 2.5M-level body (5 MB) was a fatal stack overflow and 1M levels cost
// about 1 GB.
func hostileBodyRSSBound(n int) int64 {
	k := int64(5)
	if raceEnabled {
		k = 16
	}
	return 64<<20 + k*int64(n)
}

// TestHostileJSONBodies sends the documents of the security review (issue
// 11) to every unauthenticated JSON route and to /v1 through the real
// server: millions of nesting levels, a million keys, a 30 MiB string. Each
// is refused or answered with the SPEC envelope, the process stays up, and
// the peak RSS of the process grows by less than hostileBodyRSSBound.
func TestHostileJSONBodies(t *testing.T) {
	base, _, _ := startServe(t, testConfig(t, "TOLLGATE_AUTH_REGISTRATION_ENABLED=true"))
	deepArrays := func(n int) []byte {
		return []byte(`{"email":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	wide := func(model string, n int) []byte {
		var b bytes.Buffer
		b.WriteString(`{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]`)
		for i := range n {
			fmt.Fprintf(&b, `,"k%d":0`, i)
		}
		b.WriteByte('}')
		return b.Bytes()
	}
	const apiDeep = "request body nests deeper than 128 levels"
	const v1Deep = "request body nests deeper than 512 levels"
	for _, tc := range []struct {
		name, path string
		body       []byte
		status     int
		code, msg  string
	}{
		{"SetupDeep2_5M", "/api/setup", deepArrays(2_500_000), 400, "invalid_json", apiDeep},
		{"LoginDeep2_5M", "/api/auth/login", deepArrays(2_500_000), 400, "invalid_json", apiDeep},
		{"RegisterDeep2_5M", "/api/auth/register", deepArrays(2_500_000), 400, "invalid_json", apiDeep},
		{"SetupDeepObjects", "/api/setup", []byte(strings.Repeat(`{"a":`, 1_000_000)), 400, "invalid_json", apiDeep},
		{"SetupWideMillionKeys", "/api/setup", wide("echo", 1_000_000), 400, "invalid_json", "request body has an object of more than 1000 keys"},
		{"SetupLongString", "/api/setup", []byte(`{"email":"` + strings.Repeat("a", 30<<20) + `"}`), 400, "missing_field", ""},
		{"ChatDeep8M", "/v1/chat/completions", deepArrays(8_000_000), 400, "invalid_json", v1Deep},
		{"ChatDeepInMessages", "/v1/chat/completions", []byte(`{"model":"echo","messages":[{"role":"user","content":` +
			strings.Repeat("[", 4_000_000) + strings.Repeat("]", 4_000_000) + `}]}`), 400, "invalid_json", v1Deep},
		// The gateway reads every one of the million keys, then finds the
		// model unserved: what is measured is the gateway's parse, not an
		// upstream's.
		{"ChatWideMillionKeys", "/v1/chat/completions", wide("not-served", 1_000_000), 404, "model_not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var status int
			var env struct {
				Error struct{ Code, Message string }
			}
			grew, measured := peakRSSGrowth(func() {
				resp, err := http.Post(base+tc.path, "application/json", bytes.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				status = resp.StatusCode
				b, _ := io.ReadAll(resp.Body)
				if status >= 400 {
					if err := json.Unmarshal(b, &env); err != nil {
						t.Fatalf("body %.200q is not the envelope: %v", b, err)
					}
				}
			})
			if status != tc.status || env.Error.Code != tc.code {
				t.Fatalf("answer = %d %s, want %d %s", status, env.Error.Code, tc.status, tc.code)
			}
			if tc.msg != "" && env.Error.Message != tc.msg {
				t.Fatalf("message = %q, want %q", env.Error.Message, tc.msg)
			}
			if got := get(t, base+"/healthz"); got != 200 {
				t.Fatalf("healthz after the body = %d, want 200", got)
			}
			if measured {
				t.Logf("peak RSS grew by %d MiB (body %d MiB)", grew>>20, len(tc.body)>>20)
				if bound := hostileBodyRSSBound(len(tc.body)); grew > bound {
					t.Fatalf("peak RSS grew by %d MiB, bound %d MiB", grew>>20, bound>>20)
				}
			}
		})
	}
}

// peakRSSGrowth runs fn and returns how far the process's peak resident
// set (VmHWM, reset through /proc/self/clear_refs) rose above the resident
// set before fn. measured is false where Linux's interface is missing.
func peakRSSGrowth(fn func()) (grew int64, measured bool) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		fn()
		return 0, false
	}
	before, ok1 := procStatusKiB("VmRSS")
	fn()
	peak, ok2 := procStatusKiB("VmHWM")
	if !ok1 || !ok2 {
		return 0, false
	}
	return (peak - before) << 10, true
}

func procStatusKiB(field string) (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
