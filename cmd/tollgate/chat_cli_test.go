package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/llm"
	"github.com/tollgate/tollgate/internal/llm/llmtest"
)

// upstreamConfig is a config with one model "m" served by the fake
// upstream at url.
func upstreamConfig(t *testing.T, url string) string {
	t.Helper()
	return `
[[providers]]
name = "up"
type = "openai"
base_url = "` + url + `"

[[models]]
name = "m"
provider = "up"
`
}

// messageSummary is "role status content" per message.
func messageSummary(t *testing.T, c *client.Client, conv string) []string {
	t.Helper()
	msgs, err := c.Messages(t.Context(), conv)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs.Data {
		out = append(out, fmt.Sprintf("%s %s %q", m.Role, m.Status, m.Content))
	}
	return out
}

// TestCLIChatInteractiveCtrlC runs `tollgate chat` as its own process
// against a live server, types at its prompt through a pipe and sends it
// SIGINT while a reply streams: the reply is cut (stored incomplete with
// the text that was shown), the prompt comes back, the next message gets
// its reply in the same conversation, and SIGINT at the prompt exits 0.
func TestCLIChatInteractiveCtrlC(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t,
		llmtest.Reply{Words: []string{"one", " two", " three"}, HangAfter: 3},
		llmtest.Reply{Words: []string{"fine", " thanks"}})
	base, _, _ := startServe(t, testConfigTOML(t, upstreamConfig(t, up.URL)))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOLLGATE_") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TOLLGATE_TEST_AS_MAIN=1", "TOLLGATE_TEST_ARGS=chat",
		"TOLLGATE_SERVER="+base, "XDG_CONFIG_HOME="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	chunks := make(chan string)
	go func() {
		defer close(chunks)
		b := make([]byte, 4096)
		for {
			n, err := stdout.Read(b)
			if n > 0 {
				chunks <- string(b[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	var out string
	// waitOut reads stdout until it ends with want; the timeout only
	// guards against a hang.
	waitOut := func(want string) {
		t.Helper()
		for !strings.HasSuffix(out, want) {
			select {
			case c, ok := <-chunks:
				if !ok {
					t.Fatalf("stdout ended waiting for %q; got %q; stderr:\n%s", want, out, stderr.String())
				}
				out += c
			case <-time.After(10 * time.Second):
				t.Fatalf("waiting for %q; got %q; stderr:\n%s", want, out, stderr.String())
			}
		}
	}
	interrupt := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}

	waitOut("you> ")
	if _, err := stdin.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	waitOut("assistant> one two") // the upstream hangs after " two"
	interrupt()
	waitOut("assistant> one two\nyou> ")
	if _, err := stdin.Write([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	waitOut("assistant> fine thanks\nyou> ")
	interrupt() // at the prompt: exit
	for c := range chunks {
		out += c
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("chat exited with %v, want status 0; stderr:\n%s", err, stderr.String())
	}
	if want := "you> assistant> one two\nyou> assistant> fine thanks\nyou> \n"; out != want {
		t.Fatalf("stdout = %q, want %q", out, want)
	}
	lines := strings.Split(stderr.String(), "\n")
	conv, ok := strings.CutPrefix(lines[0], "conversation ")
	conv, _, _ = strings.Cut(conv, " ")
	if !ok || len(lines) != 3 || lines[0] != "conversation "+conv+" (model m)" || lines[1] != "(reply canceled)" || lines[2] != "" {
		t.Fatalf("stderr = %q, want the conversation line and (reply canceled)", stderr.String())
	}
	// The cut reply is finished by the server once it sees the client
	// leave; poll (bounded) until it is no longer pending.
	c := client.New(base)
	var got []string
	for range 500 {
		if got = messageSummary(t, c, conv); len(got) == 4 && !strings.Contains(got[1], "pending") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []string{`user complete "hello"`, `assistant incomplete "one two"`, `user complete "again"`, `assistant complete "fine thanks"`}
	if !slices.Equal(got, want) {
		t.Fatalf("stored messages = %q, want %q", got, want)
	}
}

// TestCLIChatInteractiveExit: in interactive chat "/exit" ends the chat
// (what follows is not sent) and blank lines only show the prompt again.
func TestCLIChatInteractiveExit(t *testing.T) {
	t.Parallel()
	base := newTestApp(t)
	out, errOut, err := runCLI([]string{"TOLLGATE_SERVER=" + base}, "hi there\n\n/exit\nnot sent\n", "chat")
	if err != nil || out != "you> assistant> hi there\nyou> you> " {
		t.Fatalf("chat = %q, %q, %v", out, errOut, err)
	}
	conv, _, _ := strings.Cut(strings.TrimPrefix(errOut, "conversation "), " ")
	if got, want := messageSummary(t, client.New(base), conv), []string{`user complete "hi there"`, `assistant complete "hi there"`}; !slices.Equal(got, want) {
		t.Fatalf("stored messages = %q, want %q", got, want)
	}
}

// TestCLIChatInteractiveFailedReply: a reply that fails is reported on
// stderr, the prompt comes back on a new line and the chat goes on (exit
// 0 at the end of input).
func TestCLIChatInteractiveFailedReply(t *testing.T) {
	t.Parallel()
	base := newTestApp(t)
	out, errOut, err := runCLI([]string{"TOLLGATE_SERVER=" + base}, "hi\nagain\n", "chat", "--conversation", "conv_nope")
	const failure = "error: Conversation not found. (conversation_not_found, HTTP 404)\n"
	if err != nil || out != "you> assistant> \nyou> assistant> \nyou> \n" || errOut != failure+failure {
		t.Fatalf("chat = %q, %q, %v", out, errOut, err)
	}
}

// TestCLIChatNoStore: --no-store sends plain /v1/chat/completions
// requests (the interactive form keeps the history in the CLI) and
// creates no conversation.
func TestCLIChatNoStore(t *testing.T) {
	t.Parallel()
	up := llmtest.NewT(t,
		llmtest.Reply{Words: []string{"Hello", " world"}},
		llmtest.Reply{Words: []string{"first"}},
		llmtest.Reply{Words: []string{"second", " reply"}})
	base, _, _ := startServe(t, testConfigTOML(t, upstreamConfig(t, up.URL)))
	run := func(stdin string, args ...string) (string, string, error) {
		return runCLI([]string{"TOLLGATE_SERVER=" + base}, stdin, args...)
	}
	out, errOut, err := run("", "chat", "--no-store", "say", "hello")
	if err != nil || out != "Hello world\n" || errOut != "" {
		t.Fatalf("chat --no-store = %q, %q, %v; want the reply only", out, errOut, err)
	}
	if got := upstreamMessages(t, up.Next(t)); !slices.Equal(got, []string{"user: say hello"}) {
		t.Fatalf("upstream got %q", got)
	}
	out, errOut, err = run("a\nb\n", "chat", "--no-store", "--model", "m")
	if err != nil || out != "you> assistant> first\nyou> assistant> second reply\nyou> \n" || errOut != "" {
		t.Fatalf("interactive chat --no-store = %q, %q, %v", out, errOut, err)
	}
	up.Next(t)
	if got, want := upstreamMessages(t, up.Next(t)), []string{"user: a", "assistant: first", "user: b"}; !slices.Equal(got, want) {
		t.Fatalf("second upstream request = %q, want the history %q", got, want)
	}
	convs, err := client.New(base).ListConversations(t.Context(), client.ListOptions{})
	if err != nil || len(convs.Data) != 0 {
		t.Fatalf("conversations after --no-store = %+v, %v; want none", convs.Data, err)
	}
	if _, _, err := run("", "chat", "--no-store", "--conversation", "conv_x", "hi"); err == nil ||
		err.Error() != "--no-store and --conversation exclude each other: a stored conversation is not a plain completion" {
		t.Fatalf("--no-store --conversation = %v", err)
	}
	if _, _, err := run("", "chat", "--no-store", "--model", "nope", "hi"); err == nil || !strings.Contains(err.Error(), "model_not_found") {
		t.Fatalf("--no-store unknown model = %v", err)
	}
}

// upstreamMessages is "role: text" per message of a request the fake
// upstream received.
func upstreamMessages(t *testing.T, r *llmtest.Received) []string {
	t.Helper()
	var req llm.ChatRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range req.Messages {
		out = append(out, m.Role+": "+m.Text())
	}
	return out
}
