package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// sseEvent is one event of a streamed reply.
type sseEvent struct {
	Type string
	Data string
}

func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	for ev, err := range llm.ReadEvents(r) {
		if err != nil {
			t.Fatalf("reading stream: %v", err)
		}
		out = append(out, sseEvent{ev.Type, ev.Data})
	}
	return out
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func types(evs []sseEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func (e *convEnv) stream(t *testing.T, who as, convID, body string) []sseEvent {
	t.Helper()
	resp, err := http.DefaultClient.Do(e.req(t, who, "POST", "/api/conversations/"+convID+"/messages", body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return readSSE(t, resp.Body)
}

func TestStreamNormal(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}, PromptTokens: 9}}})
	c := e.createConv(t, endU1, `{"system_prompt":"sys"}`)
	evs := e.stream(t, endU1, c.ID, `{"content":"hi","stream":true,"model":"fast"}`)
	if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "message.delta", "message.done"}, types(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	u, pending := decode[msgJSON](t, evs[0].Data), decode[msgJSON](t, evs[1].Data)
	if u.Role != "user" || u.Content != "hi" || pending.Role != "assistant" || pending.Status != "pending" || pending.Content != "" {
		t.Fatalf("created = %+v / %+v", u, pending)
	}
	wantKeys(t, json.RawMessage(evs[2].Data), []string{"delta", "message_id"})
	if d := decode[httpapi.DeltaEvent](t, evs[2].Data); d != (httpapi.DeltaEvent{MessageID: pending.ID, Delta: "Hello"}) {
		t.Fatalf("delta = %+v", d)
	}
	wantKeys(t, json.RawMessage(evs[4].Data), msgKeys)
	done := decode[msgJSON](t, evs[4].Data)
	if done.ID != pending.ID || done.Content != "Hello world" || done.Status != "complete" ||
		*done.Usage != (usageJSON{PromptTokens: 9, CompletionTokens: 2, TotalTokens: 11}) || *done.Model != "fast" {
		t.Fatalf("done = %+v", done)
	}
	if diff := cmp.Diff([]msgJSON{u, done}, e.messages(t, endU1, c.ID)); diff != "" {
		t.Fatalf("stored (-streamed +listed):\n%s", diff)
	}
	// The upstream got the path: system prompt, then the user message.
	var body struct {
		Model    string        `json:"model"`
		Messages []llm.Message `json:"messages"`
	}
	_ = json.Unmarshal(e.up.Next(t).Body, &body)
	if body.Model != "org/fast" || len(body.Messages) != 2 || body.Messages[0].Role != "system" || body.Messages[0].Text() != "sys" ||
		body.Messages[1].Role != "user" || body.Messages[1].Text() != "hi" {
		t.Fatalf("upstream messages = %+v", body)
	}
}

func TestPathSentToModel(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"A1"}}, {Words: []string{"A2"}}, {Words: []string{"B"}}}})
	c := e.createConv(t, alice, `{"model":"fast","system_prompt":"sys"}`)
	p1 := e.post(t, alice, c.ID, `{"content":"Q1"}`)
	e.up.Next(t)
	e.post(t, alice, c.ID, `{"content":"Q2"}`)
	e.up.Next(t)
	// Branch from the first answer: Q2/A2 are not on the path.
	e.post(t, alice, c.ID, `{"content":"Q3","parent_id":"`+p1.AssistantMessage.ID+`"}`)
	var body struct {
		Messages []llm.Message `json:"messages"`
	}
	_ = json.Unmarshal(e.up.Next(t).Body, &body)
	var got []string
	for _, m := range body.Messages {
		got = append(got, m.Role+":"+m.Text())
	}
	if diff := cmp.Diff([]string{"system:sys", "user:Q1", "assistant:A1", "user:Q3"}, got); diff != "" {
		t.Fatalf("path (-want +got):\n%s", diff)
	}
}

func TestStreamCutByUpstream(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}, CutAfter: 2}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	evs := e.stream(t, alice, c.ID, `{"content":"hi","stream":true}`)
	if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "error", "message.done"}, types(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	env := decode[envelope](t, evs[3].Data)
	if env.Error.Type != "upstream_error" || env.Error.Code != "upstream_error" || env.Error.Message == "" {
		t.Fatalf("error event = %s", evs[3].Data)
	}
	done := decode[msgJSON](t, evs[4].Data)
	if done.Content != "Hello" || done.Status != "incomplete" {
		t.Fatalf("done = %+v", done)
	}
	if got := e.messages(t, alice, c.ID); len(got) != 2 || got[1].Content != "Hello" || got[1].Status != "incomplete" {
		t.Fatalf("stored = %+v", got)
	}
}

func TestUpstreamFailsBeforeAnswer(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Status: 500}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`)
	wantError(t, resp, b, 502, "upstream_error", "upstream_error", nil)
	evs := e.stream(t, alice, c.ID, `{"content":"again","stream":true}`)
	if diff := cmp.Diff([]string{"message.created", "message.created", "error", "message.done"}, types(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	got := e.messages(t, alice, c.ID)
	if len(got) != 4 || got[0].Content != "hi" || got[1].Status != "error" || got[2].Content != "again" || got[3].Status != "error" {
		t.Fatalf("stored = %+v", got)
	}
	// Failed answers are not sent as context of the next message.
	e.up.Next(t)
	e.up.Next(t)
	e.up.SetReplies(llmtest.Reply{})
	e.post(t, alice, c.ID, `{"content":"third"}`)
	var body struct {
		Messages []llm.Message `json:"messages"`
	}
	_ = json.Unmarshal(e.up.Next(t).Body, &body)
	if len(body.Messages) != 3 {
		t.Fatalf("path = %+v", body.Messages)
	}
}

func TestStreamClientDisconnect(t *testing.T) {
	t.Parallel()
	step := make(chan struct{})
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world", " again"}, Step: step}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := e.req(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi","stream":true}`).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	step <- struct{}{} // "Hello"
	// Read until the first delta arrived.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended early: %v", err)
		}
		if strings.HasPrefix(line, "event: message.delta") {
			break
		}
	}
	cancel()
	if !e.up.Next(t).Canceled {
		t.Fatal("upstream was not canceled")
	}
	// Bounded polling until the handler stored the reply.
	var got []msgJSON
	for range 1000 {
		got = e.messages(t, alice, c.ID)
		if got[1].Status != "pending" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got[1].Status != "incomplete" || got[1].Content != "Hello" {
		t.Fatalf("stored after disconnect = %+v", got[1])
	}
}

// TestFinalWriteFails: a final write that fails is retried with backoff
// while the poster waits (FinishRetry): a database back within the bound
// stores the whole reply as complete and the post succeeds. Past the
// bound the post answers 500 internal_error, the message stays pending
// (with its checkpoint), and the outcome, kept in memory, is written in
// full by FinishDeferred once the database is back.
func TestFinalWriteFails(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		name := map[bool]string{false: "Whole", true: "Stream"}[stream]
		t.Run(name+"/RetriedUntilBack", func(t *testing.T) {
			t.Parallel()
			var faults *finishFaults
			e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}}}, finishRetry: time.Minute,
				store: func(s gateway.ConversationStore) gateway.ConversationStore {
					faults = &finishFaults{ConversationStore: s}
					return faults
				}})
			c := e.createConv(t, alice, `{"model":"fast"}`)
			faults.n.Store(3)
			if stream {
				evs := e.stream(t, alice, c.ID, `{"content":"hi","stream":true}`)
				if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "message.delta", "message.done"}, types(evs)); diff != "" {
					t.Fatalf("events (-want +got):\n%s", diff)
				}
			} else {
				resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("status = %d, want 201: %s", resp.StatusCode, b)
				}
			}
			if n := faults.n.Load(); n != -1 {
				t.Fatalf("FinishMessage calls left = %d, want -1 (3 failures, then the write)", n)
			}
			got := e.messages(t, alice, c.ID)
			if len(got) != 2 || got[0].Content != "hi" || got[1].Status != "complete" || got[1].Content != "Hello world" {
				t.Fatalf("stored = %+v", got)
			}
		})
		t.Run(name+"/GivesUpThenDeferred", func(t *testing.T) {
			t.Parallel()
			var faults *finishFaults
			e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world"}}},
				store: func(s gateway.ConversationStore) gateway.ConversationStore {
					faults = &finishFaults{ConversationStore: s}
					return faults
				}})
			c := e.createConv(t, alice, `{"model":"fast"}`)
			faults.n.Store(2)
			if stream {
				evs := e.stream(t, alice, c.ID, `{"content":"hi","stream":true}`)
				if diff := cmp.Diff([]string{"message.created", "message.created", "message.delta", "message.delta", "error"}, types(evs)); diff != "" {
					t.Fatalf("events (-want +got):\n%s", diff)
				}
				env := decode[envelope](t, evs[4].Data)
				if env.Error.Type != "server_error" || env.Error.Code != "internal_error" {
					t.Fatalf("error event = %s", evs[4].Data)
				}
			} else {
				resp, b := e.call(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`)
				wantError(t, resp, b, 500, "server_error", "internal_error", nil)
			}
			got := e.messages(t, alice, c.ID)
			if len(got) != 2 || got[1].Status != "pending" {
				t.Fatalf("stored = %+v", got)
			}
			// The database still fails: the reply waits in memory.
			if left := e.svc.FinishDeferred(context.Background()); left != 1 {
				t.Fatalf("FinishDeferred left %d, want 1", left)
			}
			// Back: the whole reply is stored, once.
			if left := e.svc.FinishDeferred(context.Background()); left != 0 {
				t.Fatalf("FinishDeferred left %d, want 0", left)
			}
			got = e.messages(t, alice, c.ID)
			if len(got) != 2 || got[1].Status != "complete" || got[1].Content != "Hello world" {
				t.Fatalf("stored after FinishDeferred = %+v", got)
			}
		})
	}
}

func TestSearchHostileInput(t *testing.T) {
	t.Parallel()
	engines(t, testSearchHostileInput)
}

func testSearchHostileInput(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
	e := newConvEnv(t, envOpt{db: db})
	c := e.createConv(t, alice, "")
	p := e.post(t, alice, c.ID, `{"content":"100% of a_b is \"quoted\" NOT OR near"}`)
	for _, q := range []string{`"quoted"`, `"quoted`, `NOT`, `OR`, `near(`, `100%`, `a_b`, `quoted*`, `-quoted`, `quoted) OR (near`, "a\x00b"} {
		var sr struct {
			Data []struct {
				MessageID string `json:"message_id"`
			} `json:"data"`
		}
		e.callJSON(t, alice, "GET", "/api/search?q="+url.QueryEscape(q), "", http.StatusOK, &sr)
		if len(sr.Data) == 0 {
			t.Errorf("search %q found nothing", q)
			continue
		}
		for _, h := range sr.Data {
			if h.MessageID != p.UserMessage.ID && h.MessageID != p.AssistantMessage.ID {
				t.Errorf("search %q found %s", q, h.MessageID)
			}
		}
	}
	for _, q := range []string{`%`, `_`, `'; DROP TABLE messages; --`, `*`, `"`, `' OR 1=1 --`, `zebra`, "\x00"} {
		resp, b := e.call(t, alice, "GET", "/api/search?q="+url.QueryEscape(q), "")
		if resp.StatusCode != http.StatusOK || string(b) != "{\"data\":[]}\n" {
			t.Errorf("search %q: %d %s", q, resp.StatusCode, b)
		}
	}
	if got := e.messages(t, alice, c.ID); len(got) != 2 {
		t.Fatalf("messages after hostile searches = %d", len(got))
	}
}

func TestClientDisconnectWithoutStream(t *testing.T) {
	t.Parallel()
	step := make(chan struct{})
	e := newConvEnv(t, envOpt{replies: []llmtest.Reply{{Words: []string{"Hello", " world", " again"}, Step: step}}})
	c := e.createConv(t, alice, `{"model":"fast"}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := e.req(t, alice, "POST", "/api/conversations/"+c.ID+"/messages", `{"content":"hi"}`).WithContext(ctx)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	step <- struct{}{} // the upstream sent "Hello"...
	step <- struct{}{} // ...and is about to send " world"
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("request completed despite the cancel")
	}
	if !e.up.Next(t).Canceled {
		t.Fatal("upstream was not canceled")
	}
	var got []msgJSON
	for range 1000 {
		if got = e.messages(t, alice, c.ID); len(got) == 2 && got[1].Status != "pending" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// How much text arrived before the cancel is not deterministic; that
	// the reply is stored once, incomplete, with a prefix of it is.
	if len(got) != 2 || got[1].Status != "incomplete" || !strings.HasPrefix("Hello world", got[1].Content) {
		t.Fatalf("stored after disconnect = %+v", got)
	}
}
