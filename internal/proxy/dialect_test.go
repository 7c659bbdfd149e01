package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/anthropic"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

func (h *harness) send(t *testing.T, method, path, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// frames reads a whole SSE answer as (event, data) pairs.
func frames(t *testing.T, r io.Reader) [][2]string {
	t.Helper()
	var out [][2]string
	for ev, err := range llm.ReadEvents(r) {
		if err != nil {
			t.Fatalf("reading client stream: %v", err)
		}
		out = append(out, [2]string{ev.Type, ev.Data})
	}
	return out
}

// TestDialectStreams: on /v1/responses and /v1/messages, what each way a
// stream can end gives the client (its last frame) and the usage record.
func TestDialectStreams(t *testing.T) {
	t.Parallel()
	routes := []struct {
		name, path, body string
		prov             func(url string) llm.Provider
		cutFrame         string // the last frame after a cut
		upstreamErrType  string // the forwarded upstream error event's data "type"
	}{
		{"Responses", "/v1/responses", `{"model":"m","input":"hi","stream":true}`,
			func(url string) llm.Provider { return provider("up", url, 0) },
			`{"type":"error","code":"upstream_error","message":"The upstream connection failed.","param":null,"sequence_number":2,"error":{"type":"upstream_error","code":"upstream_error","message":"The upstream connection failed.","param":null}}`,
			"error"},
		// Anthropic's message_start reports output_tokens 1: a stream cut
		// after it records at least that.
		{"Messages", "/v1/messages", `{"model":"m","max_tokens":10,"messages":[],"stream":true}`,
			func(url string) llm.Provider { return anthropic.New(anthropic.Options{Name: "up", BaseURL: url}) },
			`{"type":"error","error":{"type":"api_error","message":"upstream_error: The upstream connection failed."}}`,
			"error"},
	}
	for _, rt := range routes {
		for _, tc := range []struct {
			name     string
			reply    llmtest.Reply
			status   gateway.UsageStatus
			errCode  string
			prompt   int64
			compl    [2]int64 // completion tokens recorded on Responses, Messages
			lastType string   // the last frame's event name
			lastData string   // the last frame's data ("": not checked)
		}{
			{"Complete", llmtest.Reply{Words: []string{"a", "b", "c"}, PromptTokens: 7}, gateway.UsageOK, "", 7, [2]int64{3, 3}, "", ""},
			{"Cut", llmtest.Reply{Words: []string{"a", "b", "c"}, PromptTokens: 7, CutAfter: 2}, gateway.UsageIncomplete, "upstream_error", 0, [2]int64{0, 1}, "error", rt.cutFrame},
			{"UpstreamErrorEvent", llmtest.Reply{Words: []string{"a", "b", "c"}, PromptTokens: 7, ErrorAfter: 3}, gateway.UsageIncomplete, "upstream_error", 0, [2]int64{1, 1}, "error", ""},
			{"EndsWithoutEndEvent", llmtest.Reply{Words: []string{"a"}, PromptTokens: 7, NoDone: true}, gateway.UsageIncomplete, "upstream_error", 0, [2]int64{1, 1}, "error", ""},
		} {
			t.Run(rt.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				up := llmtest.NewT(t, tc.reply)
				h := newHarness(t, model("m", rt.prov(up.URL), "up-m"))
				resp := h.send(t, "POST", rt.path, rt.body)
				got := frames(t, resp.Body)
				h.waitDone(t)
				if resp.StatusCode != 200 || len(got) == 0 {
					t.Fatalf("status %d frames %v", resp.StatusCode, got)
				}
				last := got[len(got)-1]
				if tc.lastType != "" && last[0] != tc.lastType {
					t.Fatalf("last frame %v, want event %q", last, tc.lastType)
				}
				if tc.lastData != "" && last[1] != tc.lastData {
					t.Fatalf("last frame data\n%s\nwant\n%s", last[1], tc.lastData)
				}
				if tc.name == "Complete" {
					end := map[string]string{"Responses": "response.completed", "Messages": "message_stop"}[rt.name]
					if last[0] != end {
						t.Fatalf("last frame %v, want %s", last, end)
					}
				}
				if tc.name == "UpstreamErrorEvent" && !strings.Contains(last[1], `"type":"`+rt.upstreamErrType+`"`) {
					t.Fatalf("last frame %v, want the upstream's own error event, once", last)
				}
				rec := h.usage.only(t)
				compl := tc.compl[0]
				if rt.name == "Messages" {
					compl = tc.compl[1]
				}
				if rec.Status != tc.status || rec.ErrorCode != tc.errCode || rec.CompletionTokens != compl ||
					(tc.name == "Complete" && rec.PromptTokens != tc.prompt) || rec.Model != "m" || rec.Provider != "up" {
					t.Fatalf("usage = %+v, want status %s code %q completion %d", rec, tc.status, tc.errCode, compl)
				}
			})
		}
	}
}

// TestDialectPlainUsage: non-streamed answers record the usage of their
// own shapes (Responses: usage.input_tokens/output_tokens; Anthropic's
// cache tokens count as prompt).
func TestDialectPlainUsage(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"x", "y"}, PromptTokens: 4})
	h := newHarness(t, model("m", provider("up", up.URL, 0), "up-m"))
	resp := h.send(t, "POST", "/v1/responses", `{"model":"m","input":"hi"}`)
	b, _ := io.ReadAll(resp.Body)
	h.waitDone(t)
	if rec := h.usage.only(t); resp.StatusCode != 200 || rec.PromptTokens != 4 || rec.CompletionTokens != 2 || rec.Status != gateway.UsageOK {
		t.Fatalf("%d %s usage %+v", resp.StatusCode, b, rec)
	}
	anth := llmtest.NewT(t, llmtest.Reply{Body: `{"type":"message","usage":{"input_tokens":3,"cache_read_input_tokens":10,"cache_creation_input_tokens":5,"output_tokens":2}}`})
	h = newHarness(t, model("c", anthropic.New(anthropic.Options{Name: "a", BaseURL: anth.URL}), "up-c"))
	resp = h.send(t, "POST", "/v1/messages", `{"model":"c","max_tokens":5,"messages":[]}`)
	_, _ = io.ReadAll(resp.Body)
	h.waitDone(t)
	if rec := h.usage.only(t); rec.PromptTokens != 18 || rec.CompletionTokens != 2 {
		t.Fatalf("usage %+v, want 18 prompt (3 + 10 + 5) and 2 completion tokens", rec)
	}
}

// TestDialectRouting: a model's provider decides its routes (400 naming
// them); fallbacks that cannot serve the route are skipped.
func TestDialectRouting(t *testing.T) {
	t.Parallel()
	down := llmtest.NewT(t, llmtest.Reply{Status: 500})
	anth := llmtest.NewT(t)
	ok := llmtest.NewT(t)
	h := newHarness(t,
		model("m", provider("down", down.URL, 0), "", "c", "n"),
		model("c", anthropic.New(anthropic.Options{Name: "anth", BaseURL: anth.URL}), ""),
		model("n", provider("ok", ok.URL, 0), ""),
	)
	for _, tc := range []struct{ path, body, message string }{
		{"/v1/messages", `{"model":"n","max_tokens":5,"messages":[]}`, ""},
		{"/v1/responses", `{"model":"c","input":"x"}`, `The model "c" is not served on /v1/responses; its routes are /v1/messages.`},
		{"/v1/chat/completions", `{"model":"c","messages":[]}`, `The model "c" is not served on /v1/chat/completions; its routes are /v1/messages.`},
	} {
		resp := h.send(t, "POST", tc.path, tc.body)
		if tc.path == "/v1/messages" {
			b, _ := io.ReadAll(resp.Body)
			want := `{"type":"error","error":{"type":"invalid_request_error","message":"invalid_field: The model \"n\" is not served on /v1/messages; its routes are /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses. (body.model)"}}` + "\n"
			if resp.StatusCode != 400 || string(b) != want {
				t.Fatalf("%s = %d %s, want 400 %s", tc.path, resp.StatusCode, b, want)
			}
		} else {
			expectError(t, resp, 400, "invalid_request_error", "invalid_field", tc.message, "body.model")
		}
		h.waitDone(t)
	}
	if n := len(h.usage.all()); n != 0 || anth.Count() != 0 || ok.Count() != 0 || down.Count() != 0 {
		t.Fatalf("refused requests reached upstreams or usage: %d records", n)
	}
	// m fails (500); its fallback c is on Anthropic, so n answers.
	resp := h.send(t, "POST", "/v1/responses", `{"model":"m","input":"x"}`)
	_, _ = io.ReadAll(resp.Body)
	h.waitDone(t)
	if rec := h.usage.only(t); resp.StatusCode != 200 || rec.ServedModel != "n" || anth.Count() != 0 || down.Count() != 1 {
		t.Fatalf("status %d usage %+v anth %d down %d, want n to answer after m", resp.StatusCode, rec, anth.Count(), down.Count())
	}
}

// TestStoredResponsesScopedToEndUsers: an app credential's end users see
// only their own response ids; the admin app credential's tenant-wide GET
// (no end-user header) sees all of its owner's.
func TestStoredResponsesScopedToEndUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, echoModel())
	h.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "owner", KeyID: "app", EndUserMode: true, Role: gateway.RoleAdmin}
	resp := h.send(t, "POST", "/v1/responses", `{"model":"echo","input":"secret of u1"}`, "X-End-User-Id", "u1")
	var created struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	h.waitDone(t)
	if created.ID == "" {
		t.Fatal("no response id")
	}
	for _, tc := range []struct {
		method string
		hdr    []string
		status int
	}{
		{"GET", []string{"X-End-User-Id", "u2"}, 404},
		{"DELETE", []string{"X-End-User-Id", "u2"}, 404},
		{"GET", nil, 200}, // tenant-wide
		{"GET", []string{"X-End-User-Id", "u1"}, 200},
	} {
		resp := h.send(t, tc.method, "/v1/responses/"+created.ID, "", tc.hdr...)
		b, _ := io.ReadAll(resp.Body)
		h.waitDone(t)
		if resp.StatusCode != tc.status {
			t.Fatalf("%s as %v = %d %s, want %d", tc.method, tc.hdr, resp.StatusCode, b, tc.status)
		}
		if tc.status == 404 && !strings.Contains(string(b), `"code":"not_found"`) {
			t.Fatalf("404 body %s", b)
		}
		if tc.status == 200 && !strings.Contains(string(b), `"text":"secret of u1"`) {
			t.Fatalf("200 body %s", b)
		}
	}
	// Another owner's key with end user u1 is another caller.
	h.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "other", KeyID: "app2", EndUserMode: true, Role: gateway.RoleAdmin}
	resp = h.send(t, "GET", "/v1/responses/"+created.ID, "", "X-End-User-Id", "u1")
	expectError(t, resp, 404, "not_found_error", "not_found", "", "")
	h.waitDone(t)
}
