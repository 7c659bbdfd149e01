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
