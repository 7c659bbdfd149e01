package proxy_test

import (
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/v1"
}

func TestUpstreamFailuresBeforeFirstByte(t *testing.T) {
	tests := []struct {
		name       string
		reply      llmtest.Reply
		closed     bool
		status     int
		typ, code  string
		message    string
		retryAfter string
	}{
		{name: "Upstream400", reply: llmtest.Reply{Status: 400, Message: "temperature must be <= 2"},
			status: 400, typ: "upstream_error", code: "upstream_error", message: "temperature must be <= 2"},
		{name: "Upstream404", reply: llmtest.Reply{Status: 404, Message: "The model `x` does not exist"},
			status: 404, typ: "upstream_error", code: "upstream_error", message: "The model `x` does not exist"},
		{name: "Upstream422Detail", reply: llmtest.Reply{Status: 422, Body: `{"detail":"bad field"}`},
			status: 422, typ: "upstream_error", code: "upstream_error", message: "bad field"},
		{name: "Upstream429", reply: llmtest.Reply{Status: 429, Message: "slow down", Header: map[string]string{"Retry-After": "7"}},
			status: 429, typ: "upstream_error", code: "upstream_error", message: "slow down", retryAfter: "7"},
		{name: "Upstream500", reply: llmtest.Reply{Status: 500, Message: "internal secret detail"},
			status: 502, typ: "upstream_error", code: "upstream_error", message: "The upstream failed (status 500)."},
		{name: "Upstream503", reply: llmtest.Reply{Status: 503},
			status: 502, typ: "upstream_error", code: "upstream_error", message: "The upstream failed (status 503)."},
		{name: "ConnectionRefused", closed: true,
			status: 503, typ: "unavailable_error", code: "upstream_unavailable", message: "The upstream is unreachable."},
		{name: "NoHeadersInTime", reply: llmtest.Reply{Hang: true},
			status: 504, typ: "upstream_error", code: "upstream_timeout", message: "The upstream did not answer in time."},
		{name: "CutBeforeFirstEvent", reply: llmtest.Reply{CutAfter: -1},
			status: 502, typ: "upstream_error", code: "upstream_error", message: "The upstream connection failed."},
		{name: "EmptyStream", reply: llmtest.Reply{Words: []string{}, NoDone: true, CutAfter: -1},
			status: 502, typ: "upstream_error", code: "upstream_error", message: "The upstream connection failed."},
	}
	for _, tc := range tests {
		for _, stream := range []bool{false, true} {
			name, body := tc.name+"/NonStream", `{"model":"fast","messages":[]}`
			if stream {
				name, body = tc.name+"/Stream", streamBody
			}
			if !stream && (tc.reply.CutAfter != 0) {
				continue // stream-only failures
			}
			t.Run(name, func(t *testing.T) {
				up := llmtest.NewT(t, tc.reply)
				url := up.URL
				if tc.closed {
					url = closedURL(t)
				}
				h := newHarness(t, model("fast", provider("local", url, 100*time.Millisecond), "up-fast"))
				resp := h.post(t, body)
				if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Fatalf("Retry-After = %q, want %q", got, tc.retryAfter)
				}
				expectError(t, resp, tc.status, tc.typ, tc.code, tc.message, "")
				h.waitDone(t)
				rec := h.usage.only(t)
				want := gateway.UsageRecord{Model: "fast", ServedModel: "fast", Provider: "local", UserID: "u1", KeyID: "k1",
					RequestID: "req-test", Status: gateway.UsageError, HTTPStatus: tc.status, ErrorCode: tc.code}
				rec.CreatedAt, rec.Latency, rec.TTFT = time.Time{}, 0, 0
				if diff := cmp.Diff(want, rec); diff != "" {
					t.Fatalf("usage mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestUpstreamFailuresAfterFirstByte(t *testing.T) {
	errFrame := func(code, message string) string {
		return `{"error":{"type":"upstream_error","code":"` + code + `","message":"` + message + `","param":null}}`
	}
	tests := []struct {
		name       string
		reply      llmtest.Reply
		frame      string // the proxy's error frame, "" when the upstream's own is the last event
		completion int64
		errCode    string
		prompt     int64
		stripUsage bool // the usage chunk is removed: the client did not ask
	}{
		{name: "Cut", reply: llmtest.Reply{CutAfter: 3}, frame: errFrame("upstream_error", "The upstream connection failed."), completion: 2, errCode: "upstream_error"},
		{name: "Idle", reply: llmtest.Reply{HangAfter: 3}, frame: errFrame("upstream_timeout", "The upstream did not answer in time."), completion: 2, errCode: "upstream_timeout"},
		{name: "EndsWithoutDone", reply: llmtest.Reply{NoDone: true}, frame: errFrame("upstream_error", "The upstream stream ended before completion."), completion: 4, prompt: 5, errCode: "upstream_error", stripUsage: true},
		{name: "UpstreamErrorEvent", reply: llmtest.Reply{ErrorAfter: 2}, completion: 1, errCode: "upstream_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.reply.Words = []string{"w1", " w2", " w3", " w4"}
			up := llmtest.NewT(t, tc.reply)
			backup := llmtest.NewT(t)
			h := newHarness(t, model("fast", provider("local", up.URL, 100*time.Millisecond), "up-fast", "spare"),
				model("spare", provider("backup", backup.URL, time.Minute), "up-spare"))
			resp := h.post(t, streamBody)
			if got, want := resp.StatusCode, 200; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			got := readEvents(t, resp.Body)
			want := up.Next(t).Sent
			if tc.stripUsage {
				want = want[:len(want)-1]
			}
			if tc.frame != "" {
				want = append(want, tc.frame)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("client events mismatch (-want +got):\n%s", diff)
			}
			if got[len(got)-1] == "[DONE]" {
				t.Fatal("a failed stream ended with [DONE]")
			}
			h.waitDone(t)
			if n := backup.Count(); n != 0 {
				t.Fatalf("fallback requests after the first byte = %d, want 0", n)
			}
			rec := h.usage.only(t)
			if rec.Status != gateway.UsageIncomplete || rec.ErrorCode != tc.errCode || rec.HTTPStatus != 200 ||
				rec.CompletionTokens != tc.completion || rec.PromptTokens != tc.prompt || rec.ServedModel != "fast" {
				t.Fatalf("usage = %+v, want incomplete %s, 200, %d completion tokens", rec, tc.errCode, tc.completion)
			}
		})
	}
}
