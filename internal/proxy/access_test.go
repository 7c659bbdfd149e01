package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
	"github.com/tollgate/tollgate/internal/proxy"
)

// TestModelAccess: allowed_models of the key and of its owner both apply
// (intersection); "gpt-4*" admits gpt-4o and refuses gpt-3.5 with 403
// model_not_allowed before any upstream call, on every /v1 route that
// calls a model and on Complete; /v1/models and /v1/models/{id} show
// only the allowed models.
func TestModelAccess(t *testing.T) {
	up := llmtest.NewT(t, llmtest.Reply{Words: []string{"ok"}})
	prov := provider("p", up.URL, time.Minute)
	h := newHarness(t, model("gpt-4o", prov, ""), model("gpt-4-mini", prov, ""), model("gpt-3.5", prov, ""))
	h.principal = &gateway.Principal{Kind: gateway.PrincipalKey, UserID: "u1", KeyID: "k1",
		KeyModels: gateway.ModelList{"gpt-4*", "gpt-3.5"}, UserModels: gateway.ModelList{"gpt-4o", "gpt-3*", "gpt-4-mini"}}
	send := func(path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	t.Run("AllowedByBoth", func(t *testing.T) {
		resp := send("/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("gpt-4o status = %d, want 200", resp.StatusCode)
		}
		h.waitDone(t)
	})
	h.principal.UserModels = gateway.ModelList{"gpt-4o", "gpt-3.5"} // gpt-4-mini: key yes, owner no
	before := up.Count()
	for _, tc := range []struct{ path, body, model string }{
		{"/v1/chat/completions", `{"model":"gpt-4-mini","messages":[{"role":"user","content":"hi"}]}`, "gpt-4-mini"},
		{"/v1/completions", `{"model":"gpt-4-mini","prompt":"hi"}`, "gpt-4-mini"},
		{"/v1/embeddings", `{"model":"gpt-4-mini","input":"hi"}`, "gpt-4-mini"},
	} {
		resp := send(tc.path, tc.body)
		expectError(t, resp, 403, "permission_error", "model_not_allowed", `This credential may not use the model "`+tc.model+`".`, "body.model")
		h.waitDone(t)
	}
	h.principal.KeyModels = gateway.ModelList{"gpt-4*"}
	h.principal.UserModels = nil
	resp := send("/v1/chat/completions", `{"model":"gpt-3.5","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	expectError(t, resp, 403, "permission_error", "model_not_allowed", `This credential may not use the model "gpt-3.5".`, "body.model")
	h.waitDone(t)
	if got := up.Count(); got != before {
		t.Fatalf("upstream calls = %d, want %d (refusals never reach it)", got, before)
	}
	if len(h.usage.all()) != 1 {
		t.Fatalf("usage records = %d, want 1 (refusals record nothing)", len(h.usage.all()))
	}

	t.Run("ModelsFiltered", func(t *testing.T) {
		resp, err := http.Get(h.srv.URL + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Data []struct{ ID string } `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range list.Data {
			ids = append(ids, m.ID)
		}
		if diff := cmp.Diff([]string{"gpt-4o", "gpt-4-mini"}, ids); diff != "" {
			t.Fatalf("/v1/models (-want +got):\n%s", diff)
		}
		for id, want := range map[string]int{"gpt-4o": 200, "gpt-3.5": 404} {
			resp, err := http.Get(h.srv.URL + "/v1/models/" + id)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("/v1/models/%s = %d, want %d", id, resp.StatusCode, want)
			}
		}
	})

	t.Run("Complete", func(t *testing.T) {
		_, err := h.px.Complete(t.Context(), proxy.CompleteRequest{Principal: h.principal, Model: "gpt-3.5"})
		ge, ok := gateway.AsError(err)
		if !ok || ge.Code != "model_not_allowed" || ge.Kind != gateway.KindPermission {
			t.Fatalf("Complete err = %v, want 403 model_not_allowed", err)
		}
	})
}

func TestModelListAllows(t *testing.T) {
	l := gateway.ModelList{"gpt-4*", "llama"}
	for m, want := range map[string]bool{"gpt-4o": true, "gpt-4": true, "gpt-3.5": false, "llama": true, "llama-2": false, "": false} {
		if got := l.Allows(m); got != want {
			t.Errorf("Allows(%q) = %v, want %v", m, got, want)
		}
	}
	if !(gateway.ModelList{}).Allows("anything") {
		t.Error("empty list must allow every model")
	}
}
