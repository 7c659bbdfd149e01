package proxy_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

func TestFallbacks(t *testing.T) {
	tests := []struct {
		name         string
		primary      llmtest.Reply
		closed       bool
		wantFallback bool
		status       int
	}{
		{name: "ConnectError", closed: true, wantFallback: true, status: 200},
		{name: "Upstream500", primary: llmtest.Reply{Status: 500}, wantFallback: true, status: 200},
		{name: "Upstream503", primary: llmtest.Reply{Status: 503}, wantFallback: true, status: 200},
		{name: "Upstream429", primary: llmtest.Reply{Status: 429}, wantFallback: true, status: 200},
		{name: "Timeout", primary: llmtest.Reply{Hang: true}, wantFallback: true, status: 200},
		{name: "CutBeforeFirstEvent", primary: llmtest.Reply{CutAfter: -1}, wantFallback: true, status: 200},
		{name: "Upstream400NoFallback", primary: llmtest.Reply{Status: 400}, status: 400},
		{name: "Upstream404NoFallback", primary: llmtest.Reply{Status: 404}, status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			primary := llmtest.NewT(t, tc.primary)
			second := llmtest.NewT(t, llmtest.Reply{Status: 503})
			third := llmtest.NewT(t, llmtest.Reply{Words: []string{"from", " third"}})
			url := primary.URL
			if tc.closed {
				url = closedURL(t)
			}
			h := newHarness(t,
				model("fast", provider("a", url, 100*time.Millisecond), "up-a", "second", "third"),
				model("second", provider("b", second.URL, time.Minute), "up-b"),
				model("third", provider("c", third.URL, time.Minute), "up-c"))
			resp := h.post(t, streamBody)
			got := readEventsOrBody(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tc.status, got)
			}
			h.waitDone(t)
			rec := h.usage.only(t)
			if !tc.wantFallback {
				if second.Count() != 0 || third.Count() != 0 {
					t.Fatalf("fallback requests = %d, %d; want none", second.Count(), third.Count())
				}
				if rec.ServedModel != "fast" {
					t.Fatalf("served_model = %q, want fast", rec.ServedModel)
				}
				return
			}
			// In order: second (503) then third, which answers.
			if got, want := string(second.Next(t).Body), `{"stream_options":{"include_usage":true},"model":"up-b","stream":true,"messages":[{"role":"user","content":"hi"}]}`; got != want {
				t.Fatalf("second upstream body = %s, want %s", got, want)
			}
			sent := third.Next(t).Sent
			want := append(sent[:len(sent)-2:len(sent)-2], sent[len(sent)-1]) // minus the usage chunk
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("client events mismatch (-third upstream +client):\n%s", diff)
			}
			if rec.Model != "fast" || rec.ServedModel != "third" || rec.Provider != "c" || rec.CompletionTokens != 2 {
				t.Fatalf("usage = %+v, want model fast served by third/c with 2 completion tokens", rec)
			}
		})
	}
}

func readEventsOrBody(t *testing.T, resp *http.Response) []string {
	t.Helper()
	if resp.StatusCode == http.StatusOK {
		return readEvents(t, resp.Body)
	}
	b, _ := io.ReadAll(resp.Body)
	return []string{string(b)}
}
