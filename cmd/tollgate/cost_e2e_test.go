package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// TestUsageCostAPI: a priced model's completions carry their cost, summed
// per group in /api/usage as a decimal string.
func TestUsageCostAPI(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t, llmtest.Reply{PromptTokens: 1000, Words: []string{"a", "b", "c", "d"}})
	base, _, _ := startServe(t, testConfigTOML(t, upstreamConfig(t, up.URL)+`input_price = 0.15
output_price = 0.60
`, "TOLLGATE_USAGE_FLUSH_INTERVAL=10ms"))
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for i := 0; i < 3; i++ {
		if r := call(t, "POST", base+"/v1/chat/completions", body); r.status != 200 {
			t.Fatalf("chat = %d %v", r.status, r.body)
		}
	}
	// 1000 × 0.15/M + 4 × 0.60/M = 152.4 → 152 micros per request.
	var got struct {
		Data []struct {
			Group    string `json:"group"`
			Requests int    `json:"requests"`
			Cost     string `json:"cost"`
		} `json:"data"`
	}
	for i := 0; i < 200; i++ {
		r := call(t, "GET", base+"/api/usage?group_by=model", "")
		raw, _ := json.Marshal(r.body)
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Data) == 1 && got.Data[0].Requests == 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(got.Data) != 1 || got.Data[0].Group != "m" || got.Data[0].Requests != 3 || got.Data[0].Cost != "0.000456" {
		t.Fatalf("usage = %+v, want one row m, 3 requests, cost 0.000456", got.Data)
	}
}

// TestOpenAPIMoneyIsString: money fields (cost, max_cost) are documented
// as strings, as they are sent.
func TestOpenAPIMoneyIsString(t *testing.T) {
	t.Parallel()
	base := newTestApp(t)
	r := call(t, "GET", base+"/openapi.json", "")
	schemas, _ := r.body["components"].(map[string]any)["schemas"].(map[string]any)
	found := 0
	for name, s := range schemas {
		props, _ := s.(map[string]any)["properties"].(map[string]any)
		for _, field := range []string{"cost", "max_cost"} {
			p, ok := props[field].(map[string]any)
			if !ok {
				continue
			}
			found++
			if typ, _ := p["type"].(string); typ != "string" {
				t.Errorf("%s.%s type = %v, want string", name, field, p["type"])
			}
		}
	}
	if found < 3 {
		t.Fatalf("found %d money fields in the OpenAPI schemas, want at least 3", found)
	}
}
