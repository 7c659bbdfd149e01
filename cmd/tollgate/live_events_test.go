package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
	"github.com/tollgate/tollgate/internal/testsvc"
)

// liveBackend is a way to run the live-event tests: SQLite (one instance,
// in process), or two instances on one PostgreSQL sharing events through
// LISTEN/NOTIFY or through Redis pub/sub.
type liveBackend struct {
	name    string
	environ func(t *testing.T) []string
	shared  bool
}

var liveBackends = []liveBackend{
	{"SQLite", func(*testing.T) []string { return nil }, false},
	{"PostgresNotify", func(t *testing.T) []string {
		return []string{"TOLLGATE_DATABASE_URL=" + sqltest.PostgresURL(t)}
	}, true},
	{"PostgresRedis", func(t *testing.T) []string {
		return []string{"TOLLGATE_DATABASE_URL=" + sqltest.PostgresURL(t), "TOLLGATE_REDIS_URL=" + testsvc.RedisURL(t),
			"TOLLGATE_REDIS_KEY_PREFIX=" + testsvc.UniqueName("tg") + ":"}
	}, true},
}

// liveEnv is one or two instances on one database, and an admin token.
type liveEnv struct {
	a, b *authEnv
	tok  string
}

func newLiveEnv(t *testing.T, be liveBackend, environ ...string) *liveEnv {
	t.Helper()
	a := newAuthEnv(t, append(be.environ(t), environ...)...)
	e := &liveEnv{a: a, b: a, tok: a.setup()}
	if be.shared {
		e.b = a.second()
	}
	return e
}

// waitSubscribed waits until the instance has n subscribers of conv.
func waitSubscribed(t *testing.T, e *authEnv, conv string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.app.hub.Subscribers(conv) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no subscriber of %s after 10s", conv)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// collect reads the stream until stop says so (or ctx ends), in the
// background; the result arrives on the channel.
func collect(ctx context.Context, c *client.Client, conv, last string, stop func(client.StreamEvent) bool) <-chan streamResult {
	out := make(chan streamResult, 1)
	go func() {
		var r streamResult
		for ev, err := range c.StreamConversation(ctx, conv, last) {
			if err != nil {
				r.err = err
				break
			}
			r.events = append(r.events, ev)
			if stop(ev) {
				break
			}
		}
		out <- r
	}()
	return out
}

type streamResult struct {
	events []client.StreamEvent
	err    error
}

func assistantDone(ev client.StreamEvent) bool {
	if ev.Type != "message.done" {
		return false
	}
	var m httpapi.MessageObject
	return json.Unmarshal(ev.Data, &m) == nil && m.Role == "assistant"
}

// reassemble returns the concatenated deltas and the done message's text,
// and fails unless the ids are consecutive (no gap, no duplicate).
func reassemble(t *testing.T, evs []client.StreamEvent, first int64) (deltas, done string) {
	t.Helper()
	var b strings.Builder
	want := first
	for _, ev := range evs {
		id, err := strconv.ParseInt(ev.ID, 10, 64)
		if err != nil || id != want {
			t.Fatalf("event %s %q: id %q, want %d (gap or duplicate)", ev.Type, ev.Data, ev.ID, want)
		}
		want++
		switch ev.Type {
		case "message.delta":
			var d httpapi.DeltaEvent
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
			b.WriteString(d.Delta)
		case "message.done":
			var m httpapi.MessageObject
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatal(err)
			}
			done = m.Content
		}
	}
	return b.String(), done
}

func words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i)
	}
	return strings.Join(w, " ")
}

func storedReply(t *testing.T, c *client.Client, conv string) string {
	t.Helper()
	msgs, err := c.Messages(t.Context(), conv)
	if err != nil {
		t.Fatal(err)
	}
	last := msgs.Data[len(msgs.Data)-1]
	if last.Role != "assistant" || last.Status != "complete" {
		t.Fatalf("last message = %+v", last)
	}
	return last.Content
}

// A subscriber on instance B sees every event of a reply streamed on
// instance A, with the ids the poster got, and its reassembled text is
// the stored message.
func TestLiveEventsAcrossInstances(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newLiveEnv(t, be)
			ca, cb := e.a.client(e.tok), e.b.client(e.tok)
			conv, err := ca.CreateConversation(t.Context(), httpapi.ConversationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			sub := collect(t.Context(), cb, conv.ID, "", assistantDone)
			waitSubscribed(t, e.b, conv.ID, 1)
			content := words(300)
			var posted []client.MessageEvent
			for ev, err := range ca.StreamMessage(t.Context(), conv.ID, httpapi.PostMessageRequest{Content: &content}) {
				if err != nil {
					t.Fatal(err)
				}
				posted = append(posted, ev)
			}
			r := <-sub
			if r.err != nil {
				t.Fatal(r.err)
			}
			deltas, done := reassemble(t, r.events, 1)
			stored := storedReply(t, ca, conv.ID)
			if deltas != stored || done != stored || stored != content {
				t.Fatalf("reassembled %d chars, done %d, stored %d, want all equal to the %d posted", len(deltas), len(done), len(stored), len(content))
			}
			if len(posted) != len(r.events) {
				t.Fatalf("poster got %d events, subscriber %d", len(posted), len(r.events))
			}
			for i, p := range posted {
				if p.ID != r.events[i].ID || p.Type != r.events[i].Type {
					t.Fatalf("event %d: poster %s %s, subscriber %s %s", i, p.ID, p.Type, r.events[i].ID, r.events[i].Type)
				}
			}
		})
	}
}

// 50+ reconnects at random points of a long reply, alternating instances,
// each resuming with Last-Event-ID: every id exactly once, and the text is
// the stored one.
func TestLiveEventsResumeAtRandomPoints(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newLiveEnv(t, be, "TOLLGATE_STREAM_SUBSCRIBER_BUFFER=100000")
			cs := []*client.Client{e.a.client(e.tok), e.b.client(e.tok)}
			conv, err := cs[0].CreateConversation(t.Context(), httpapi.ConversationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			content := words(1500)
			posted := make(chan error, 1)
			go func() {
				_, err := cs[0].PostMessage(t.Context(), conv.ID, httpapi.PostMessageRequest{Content: &content})
				posted <- err
			}()
			rng := rand.New(rand.NewPCG(15, 71))
			var all []client.StreamEvent
			last, reconnects, finished := "0", 0, false
			for !finished {
				n := 1 + rng.IntN(40)
				r := <-collect(t.Context(), cs[reconnects%2], conv.ID, last, func(ev client.StreamEvent) bool {
					n--
					return n == 0 || assistantDone(ev)
				})
				if r.err != nil {
					t.Fatal(r.err)
				}
				for _, ev := range r.events {
					all = append(all, ev)
					last = ev.ID
					finished = finished || assistantDone(ev)
				}
				reconnects++
			}
			if err := <-posted; err != nil {
				t.Fatal(err)
			}
			if reconnects < 50 {
				t.Fatalf("only %d reconnects", reconnects)
			}
			deltas, done := reassemble(t, all, 1)
			if stored := storedReply(t, cs[1], conv.ID); deltas != stored || done != stored {
				t.Fatalf("after %d reconnects: reassembled %d chars, done %d, stored %d", reconnects, len(deltas), len(done), len(stored))
			}
		})
	}
}

// A Last-Event-ID older than what is retained gets resync (then live); a
// bogus, negative, ahead or other conversation's id gets live events only;
// a retained one gets exactly the events after it.
func TestLiveEventsLastEventID(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends[:2] {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newLiveEnv(t, be, "TOLLGATE_STREAM_MAX_EVENTS_PER_CONVERSATION=64")
			c := e.a.client(e.tok)
			conv, _ := c.CreateConversation(t.Context(), httpapi.ConversationRequest{})
			other, _ := c.CreateConversation(t.Context(), httpapi.ConversationRequest{})
			long, short := words(150), "hi"
			if _, err := c.PostMessage(t.Context(), conv.ID, httpapi.PostMessageRequest{Content: &long}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PostMessage(t.Context(), other.ID, httpapi.PostMessageRequest{Content: &short}); err != nil {
				t.Fatal(err)
			}
			const lastSeq = 2 + 150 + 1 // two created, the deltas, done
			title := 0
			// after subscribing with id, the first n events are checked
			// against want; then a rename must come live with the next id.
			try := func(id string, want ...string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				n := len(want) + 1
				sub := collect(ctx, c, conv.ID, id, func(client.StreamEvent) bool { n--; return n == 0 })
				waitSubscribed(t, e.a, conv.ID, 1)
				title++
				tt := fmt.Sprint("t", title)
				if _, err := c.UpdateConversation(t.Context(), conv.ID, httpapi.ConversationRequest{Title: &tt}); err != nil {
					t.Fatal(err)
				}
				r := <-sub
				if r.err != nil {
					t.Fatalf("Last-Event-ID %q: %v", id, r.err)
				}
				var got []string
				for _, ev := range r.events {
					got = append(got, ev.ID+" "+ev.Type)
				}
				next := fmt.Sprintf("%d conversation.updated", lastSeq+title)
				if w := strings.Join(append(want, next), ", "); strings.Join(got, ", ") != w {
					t.Fatalf("Last-Event-ID %q: got %v, want %s", id, got, w)
				}
				for e.a.app.hub.Subscribers(conv.ID) > 0 { // let the stream end before the next one
					time.Sleep(5 * time.Millisecond)
				}
			}
			try("1", fmt.Sprintf("%d resync", lastSeq))
			try("abc")
			try("-5")
			try("")
			try("1000000")
			try(fmt.Sprint(lastSeq + 1 + 5)) // ahead of conv (and of the other)
			try(strconv.Itoa(lastSeq+title-1), fmt.Sprintf("%d conversation.updated", lastSeq+title))
			try(strconv.Itoa(lastSeq+title-2), fmt.Sprintf("%d conversation.updated", lastSeq+title-1), fmt.Sprintf("%d conversation.updated", lastSeq+title))
			// The other conversation has 4 events: its ids resume there,
			// never reveal conv's.
			r := <-collect(t.Context(), c, other.ID, "2", func(ev client.StreamEvent) bool { return ev.ID == "4" })
			if r.err != nil || len(r.events) != 2 || r.events[0].ID != "3" || !strings.Contains(string(r.events[1].Data), other.ID) {
				t.Fatalf("other conversation after 2 = %+v, %v", r.events, r.err)
			}
		})
	}
}

// Another user and another end user of the same app credential get 404
// exactly as for an unknown id; deleting the conversation ends the
// streams on every instance.
func TestLiveEventsAccess(t *testing.T) {
	t.Parallel()
	for _, be := range liveBackends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newLiveEnv(t, be)
			conID := e.a.createUser(e.tok, "con@example.com", adminPassword, "contributor")
			_ = conID
			con := e.a.client(e.a.login("con@example.com", adminPassword))
			conv, err := con.CreateConversation(t.Context(), httpapi.ConversationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			first := func(c *client.Client, id string) error {
				for _, err := range c.StreamConversation(t.Context(), id, "") {
					return err
				}
				return nil
			}
			wantCode(t, first(e.b.client(e.tok), conv.ID), 404, "conversation_not_found", "")
			wantCode(t, first(e.b.client(e.tok), "conv_unknown"), 404, "conversation_not_found", "")

			key, err := e.a.client(e.tok).CreateKey(t.Context(), httpapi.CreateKeyRequest{Name: "app", EndUserMode: true})
			if err != nil {
				t.Fatal(err)
			}
			alice, bob := e.a.client(key.Key).WithEndUser("alice"), e.b.client(key.Key).WithEndUser("bob")
			aconv, err := alice.CreateConversation(t.Context(), httpapi.ConversationRequest{})
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, first(bob, aconv.ID), 404, "conversation_not_found", "")

			// The owner's streams on both instances end when it is deleted.
			never := func(client.StreamEvent) bool { return false }
			s1 := collect(t.Context(), con, conv.ID, "", never)
			s2 := collect(t.Context(), e.b.client(con.Token()), conv.ID, "", never)
			waitSubscribed(t, e.a, conv.ID, 1)
			waitSubscribed(t, e.b, conv.ID, map[bool]int{true: 1, false: 2}[be.shared])
			if err := con.DeleteConversation(t.Context(), conv.ID); err != nil {
				t.Fatal(err)
			}
			for _, s := range []<-chan streamResult{s1, s2} {
				select {
				case r := <-s:
					if !errors.Is(r.err, io.EOF) || len(r.events) != 0 {
						t.Fatalf("after delete: %+v, %v; want the stream ended", r.events, r.err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("stream still open 10s after the conversation was deleted")
				}
			}
			wantCode(t, first(con, conv.ID), 404, "conversation_not_found", "")
		})
	}
}

// A subscriber that never reads blocks neither the poster nor another
// subscriber, and loses no event but deltas. (That deltas are dropped once
// its queue is full is TestSubscriberNeverReading in internal/events: here
// the kernel's socket buffers may absorb the whole reply first.)
func TestLiveEventsSlowSubscriber(t *testing.T) {
	t.Parallel()
	e := newLiveEnv(t, liveBackends[0])
	c := e.a.client(e.tok)
	conv, _ := c.CreateConversation(t.Context(), httpapi.ConversationRequest{})
	// A raw connection with a tiny receive window that reads nothing.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	}}
	conn, err := d.DialContext(t.Context(), "tcp", strings.TrimPrefix(e.a.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/stream/conversations/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", conv.ID, e.tok)
	waitSubscribed(t, e.a, conv.ID, 1)
	reader := collect(t.Context(), c, conv.ID, "", assistantDone)
	waitSubscribed(t, e.a, conv.ID, 2)

	// Long words: the deltas outgrow the socket buffers and the queue.
	w := make([]string, 3000)
	for i := range w {
		w[i] = strings.Repeat(string(rune('a'+i%26)), 200)
	}
	content := strings.Join(w, " ")
	done := make(chan error, 1)
	go func() {
		_, err := c.PostMessage(t.Context(), conv.ID, httpapi.PostMessageRequest{Content: &content})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the poster is blocked by a subscriber that does not read")
	}
	r := <-reader
	if r.err != nil {
		t.Fatal(r.err)
	}
	if deltas, _ := reassemble(t, r.events, 1); deltas != content {
		t.Fatalf("the reading subscriber got %d chars, want %d", len(deltas), len(content))
	}
	// Now read what the slow one was sent: every non-delta event, in
	// order, and fewer deltas than were posted.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	raw, _ := io.ReadAll(&untilDone{r: conn})
	s := string(raw)
	nDelta := strings.Count(s, "event: message.delta")
	if strings.Count(s, "event: message.created") != 2 || strings.Count(s, "event: message.done") != 1 || nDelta > 3000 {
		t.Fatalf("slow subscriber: %d created, %d done, %d of 3000 deltas", strings.Count(s, "event: message.created"), strings.Count(s, "event: message.done"), nDelta)
	}
	t.Logf("slow subscriber got %d of 3000 deltas", nDelta)
}

// untilDone reads until a message.done event has been read.
type untilDone struct {
	r    io.Reader
	tail []byte
	done bool
}

func (u *untilDone) Read(p []byte) (int, error) {
	if u.done && strings.Contains(string(u.tail), "}\n\n") { // the end of message.done's data
		return 0, io.EOF
	}
	n, err := u.r.Read(p)
	u.tail = append(u.tail, p[:n]...)
	if i := strings.Index(string(u.tail), "event: message.done"); i >= 0 && !u.done {
		u.done, u.tail = true, u.tail[i:]
	}
	if len(u.tail) > 64 {
		u.tail = u.tail[len(u.tail)-64:]
	}
	return n, err
}

// `tollgate follow` prints a reply posted by another client as it
// streams, and the other events as lines.
func TestCLIFollow(t *testing.T) {
	t.Parallel()
	e := newLiveEnv(t, liveBackends[0])
	c := e.a.client(e.tok)
	conv, _ := c.CreateConversation(t.Context(), httpapi.ConversationRequest{})
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncBuffer{}
	finished := make(chan error, 1)
	go func() {
		root := newRootCmd(env{stdin: strings.NewReader(""), stdout: out, stderr: io.Discard, environ: func() []string {
			return []string{"TOLLGATE_SERVER=" + e.a.url, "TOLLGATE_API_KEY=" + e.tok, "XDG_CONFIG_HOME=" + t.TempDir()}
		}})
		root.SetArgs([]string{"follow", conv.ID})
		finished <- root.ExecuteContext(ctx)
	}()
	waitSubscribed(t, e.a, conv.ID, 1)
	content := "alpha beta gamma delta"
	if _, err := c.PostMessage(t.Context(), conv.ID, httpapi.PostMessageRequest{Content: &content}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "message.done") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "[1] message.created") || !strings.Contains(lines[0], `user complete "alpha beta gamma delta"`) ||
		!strings.Contains(lines[1], "[2] message.created") || lines[2] != content || !strings.Contains(lines[3], "message.done") {
		t.Fatalf("follow printed:\n%s", got)
	}
}
