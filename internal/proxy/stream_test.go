package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

const streamBody = `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`
const streamUsageBody = `{"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

func TestNonStreamResponseByteForByte(t *testing.T) {
	h, up := oneUpstream(t, llmtest.Reply{Extra: `"x_vendor":{"latency":[1,2.50]},"service_tier":"default"`, PromptTokens: 11,
		Words: []string{"a", "b", "c"}})
	resp := h.post(t, `{"model":"fast","messages":[]}`)
	b, _ := io.ReadAll(resp.Body)
	if got, want := resp.StatusCode, 200; got != want {
		t.Fatalf("status = %d, want %d", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Fatalf("Content-Type = %q, want %q", got, want)
	}
	sent := up.Next(t).Sent
	if len(sent) != 1 || string(b) != sent[0] {
		t.Fatalf("client body\n got %s\nwant %s", b, sent)
	}
	h.waitDone(t)
	rec := h.usage.only(t)
	if rec.PromptTokens != 11 || rec.CompletionTokens != 3 || rec.Status != gateway.UsageOK || rec.HTTPStatus != 200 {
		t.Fatalf("usage = %+v, want 11/3 ok 200", rec)
	}
}

func TestStreamPassThrough(t *testing.T) {
	tests := []struct {
		name  string
		reply llmtest.Reply
	}{
		{"Plain", llmtest.Reply{}},
		{"UnknownFields", llmtest.Reply{Extra: `"x_vendor":{"a":[1,"\u00e9"]}`}},
		{"CRLF", llmtest.Reply{CRLF: true}},
		{"Comments", llmtest.Reply{Comments: true}},
		{"MultiLineData", llmtest.Reply{SplitData: true}},
		{"LinesOver64KiB", llmtest.Reply{LongField: 100 << 10}},
	}
	for _, tc := range tests {
		for _, asked := range []bool{false, true} {
			name := tc.name + "/WithoutUsage"
			body := streamBody
			if asked {
				name, body = tc.name+"/WithUsage", streamUsageBody
			}
			t.Run(name, func(t *testing.T) {
				tc.reply.Words = []string{"one", " two", " three"}
				tc.reply.PromptTokens = 7
				h, up := oneUpstream(t, tc.reply)
				resp := h.post(t, body)
				if got, want := resp.Header.Get("Content-Type"), "text/event-stream"; got != want {
					t.Fatalf("Content-Type = %q, want %q", got, want)
				}
				got := readEvents(t, resp.Body)
				want := up.Next(t).Sent
				if !asked {
					// The usage chunk the gateway asked for is removed again.
					usageChunk := want[len(want)-2]
					if !strings.Contains(usageChunk, `"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}`) {
						t.Fatalf("upstream did not send the usage chunk: %s", usageChunk)
					}
					want = append(want[:len(want)-2:len(want)-2], want[len(want)-1])
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("client events mismatch (-want +got):\n%s", diff)
				}
				if got[len(got)-1] != "[DONE]" {
					t.Fatalf("last event = %q, want [DONE]", got[len(got)-1])
				}
				h.waitDone(t)
				rec := h.usage.only(t)
				if rec.PromptTokens != 7 || rec.CompletionTokens != 3 || rec.Status != gateway.UsageOK || rec.HTTPStatus != 200 {
					t.Fatalf("usage = %+v, want 7/3 ok 200", rec)
				}
				if rec.TTFT <= 0 || rec.Latency < rec.TTFT {
					t.Fatalf("usage TTFT = %v, latency = %v: want 0 < TTFT <= latency", rec.TTFT, rec.Latency)
				}
			})
		}
	}
}

// TestStreamChunksFlushedOneByOne releases upstream events one at a time
// and checks that each reaches the client before the next is released: a
// proxy that buffered would never deliver the event and the read would
// block (caught by the 10s guard below).
func TestStreamChunksFlushedOneByOne(t *testing.T) {
	step := make(chan struct{})
	h, up := oneUpstream(t, llmtest.Reply{Step: step, Words: []string{"a", " b", " c"}})
	resp := h.post(t, streamBody)
	er := &eventReader{br: bufio.NewReader(resp.Body)}
	var got []string
	got = append(got, er.next(t)) // role chunk: sent without a step
	for range 4 {                 // 3 words and the finish chunk
		select {
		case step <- struct{}{}:
		case <-ctxTimeout(t).Done():
			t.Fatal("upstream did not ask for the next event")
		}
		got = append(got, er.next(t))
	}
	step <- struct{}{} // the usage chunk, removed by the proxy
	step <- struct{}{} // [DONE]
	got = append(got, er.next(t))
	sent := up.Next(t).Sent
	want := append(append([]string{}, sent[:5]...), sent[6])
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events mismatch (-want +got):\n%s", diff)
	}
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10e9)
	t.Cleanup(cancel)
	return ctx
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		reply llmtest.Reply
	}{
		{"MidStream", streamBody, llmtest.Reply{HangAfter: 2}},
		{"BeforeHeaders", streamBody, llmtest.Reply{Hang: true}},
		{"NonStream", `{"model":"fast","messages":[]}`, llmtest.Reply{Hang: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, up := oneUpstream(t, tc.reply)
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/v1/chat/completions", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			errc := make(chan error, 1)
			go func() {
				resp, err := h.srv.Client().Do(req)
				if err == nil {
					if tc.reply.HangAfter > 0 {
						er := &eventReader{br: bufio.NewReader(resp.Body)}
						er.next(t)
					}
					resp.Body.Close()
				}
				errc <- err
			}()
			if tc.reply.HangAfter == 0 {
				for up.Count() == 0 {
					select {
					case <-ctxTimeout(t).Done():
						t.Fatal("request never reached upstream")
					case <-time.After(time.Millisecond):
					}
				}
				cancel()
			}
			<-errc
			cancel()
			rec := up.Next(t)
			if !rec.Canceled {
				t.Fatal("upstream did not see the request canceled")
			}
			h.waitDone(t)
			if got, want := h.usage.only(t).Status, gateway.UsageCanceled; got != want {
				t.Fatalf("usage status = %q, want %q", got, want)
			}
		})
	}
}

// TestStreamBytesUnchanged sends an upstream stream whose chunks have an
// unusual key order and spacing, id and event lines, comments inside and
// between events and CRLF line ends: the client gets exactly those bytes,
// except the usage-only chunk the gateway asked for on behalf of a client
// that did not (removed whole) and the keep-alive comment blocks (not
// events). Usage is still read from the chunk.
func TestStreamBytesUnchanged(t *testing.T) {
	role := "id: c1\r\ndata: {\"choices\":[{\"delta\":{\"role\":\"assistant\"},\"index\":0}],  \"model\":\"up\",\"id\":\"x\"}\r\n\r\n"
	word := "data: {\"model\" : \"up\", \"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\\u00e9\"}}],\"z\":1}\n: note\n\n"
	split := "event: message\ndata: {\"choices\":[{\"delta\":{\"content\":\" there\"}}],\ndata: \"model\":\"up\"}\n\n"
	keepAlive := ": keep-alive\n\n"
	finish := "data:{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
	usage := "data: {\"choices\":[],\"usage\":{\"total_tokens\":12,\"completion_tokens\":2,\"prompt_tokens\":10}}\n\n"
	done := "data: [DONE]\n\n"
	upstream := role + word + keepAlive + split + finish + usage + done
	for _, tc := range []struct {
		name, body, want string
	}{
		{"ClientAskedForUsage", streamUsageBody, role + word + split + finish + usage + done},
		{"GatewayAskedForUsage", streamBody, role + word + split + finish + done},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := oneUpstream(t, llmtest.Reply{Header: map[string]string{"Content-Type": "text/event-stream"}, Body: upstream})
			resp := h.post(t, tc.body)
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("client bytes\n got %q\nwant %q", got, tc.want)
			}
			h.waitDone(t)
			rec := h.usage.only(t)
			if rec.PromptTokens != 10 || rec.CompletionTokens != 2 || rec.Status != gateway.UsageOK {
				t.Fatalf("usage = %+v, want 10/2 ok", rec)
			}
		})
	}
}
