package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm"
)

// defaultServer is the server chat talks to without TOLLGATE_SERVER.
const defaultServer = "http://127.0.0.1:8080"

// newAPIClient is the client of the server and token stored by `tollgate
// login`; TOLLGATE_SERVER and TOLLGATE_API_KEY override them.
func newAPIClient(environ []string) *client.Client {
	base, token := defaultServer, ""
	if creds, err := loadCredentials(environ); err == nil {
		base, token = creds.Server, creds.AccessToken
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "TOLLGATE_SERVER":
			if v != "" {
				base = v
			}
		case "TOLLGATE_API_KEY":
			token = v
		}
	}
	return client.New(base).WithToken(token)
}

// serverError words a server's error envelope for the terminal:
// "message (code, HTTP status)".
func serverError(err error) error {
	ge, ok := gateway.AsError(err)
	if !ok {
		return err
	}
	code := ge.Code
	if code == "" {
		code = "unknown"
	}
	if ge.Status == 0 {
		return fmt.Errorf("%s (%s)", ge.Message, code)
	}
	return fmt.Errorf("%s (%s, HTTP %d)", ge.Message, code, ge.Status)
}

// firstModel is the first model /v1/models lists.
func firstModel(ctx context.Context, c *client.Client) (string, error) {
	list, err := c.Models(ctx)
	if err != nil {
		return "", fmt.Errorf("list models: %w", serverError(err))
	}
	if len(list.Data) == 0 {
		return "", errors.New("the server serves no models")
	}
	return list.Data[0].ID, nil
}

// send posts one message with stream: true and writes the reply's text to
// out as it arrives.
func send(ctx context.Context, c *client.Client, conv, model, content string, out io.Writer) error {
	in := httpapi.PostMessageRequest{Content: &content}
	if model != "" {
		in.Model = &model
	}
	var failure error
	for ev, err := range c.StreamMessage(ctx, conv, in) {
		if err != nil {
			if _, ok := gateway.AsError(err); ok {
				return serverError(err)
			}
			return fmt.Errorf("reading the reply: %w", err)
		}
		switch ev.Type {
		case client.EventMessageDelta:
			if _, err := io.WriteString(out, ev.Delta.Delta); err != nil {
				return err
			}
		case client.EventError:
			failure = serverError(ev.Err)
		case client.EventMessageDone:
			_, err := io.WriteString(out, "\n")
			if err == nil && failure != nil {
				err = fmt.Errorf("the reply is incomplete: %w", failure)
			}
			return err
		}
	}
	if failure != nil {
		return failure
	}
	return errors.New("the reply ended early")
}

// streamCompletion sends messages as a plain /v1 chat completion
// (stream: true, nothing stored) and writes the reply's text to out as it
// arrives; it returns the whole reply.
func streamCompletion(ctx context.Context, c *client.Client, model string, messages []llm.Message, out io.Writer) (string, error) {
	var reply strings.Builder
	for delta, err := range c.StreamChatCompletion(ctx, llm.ChatRequest{Model: model, Messages: messages}) {
		if err != nil {
			if _, ok := gateway.AsError(err); ok {
				err = serverError(err)
			} else {
				err = fmt.Errorf("reading the reply: %w", err)
			}
			if reply.Len() > 0 {
				_, _ = io.WriteString(out, "\n")
				return reply.String(), fmt.Errorf("the reply is incomplete: %w", err)
			}
			return "", err
		}
		reply.WriteString(delta)
		if _, err := io.WriteString(out, delta); err != nil {
			return reply.String(), err
		}
	}
	_, err := io.WriteString(out, "\n")
	return reply.String(), err
}

// textMessage is a chat message with string content.
func textMessage(role, content string) llm.Message {
	b, _ := json.Marshal(content)
	return llm.Message{Role: role, Content: b}
}

// chatTurn sends one user message and writes the reply's text to out.
type chatTurn func(ctx context.Context, content string, out io.Writer) error

// The marks of interactive chat: the prompt and the start of a reply.
const (
	promptMark = "you> "
	replyMark  = "assistant> "
)

// chatInteractive reads one message per line at a prompt and streams each
// reply after a mark, until end of input, "/exit" or an interrupt at the
// prompt. An interrupt while a reply streams cancels that reply's request
// (the server stores what arrived as incomplete) and returns to the
// prompt. A failed reply is reported on stderr and the chat goes on.
func chatInteractive(ctx context.Context, e env, turn chatTurn) error {
	interrupts, release := e.catchInterrupts()
	defer release()
	lines := make(chan string)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
				return
			}
		}
		readErr <- sc.Err()
	}()
	for {
		if _, err := io.WriteString(e.stdout, promptMark); err != nil {
			return err
		}
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stdout)
			return ctx.Err()
		case <-interrupts:
			fmt.Fprintln(e.stdout)
			return nil
		case l, ok := <-lines:
			if !ok {
				fmt.Fprintln(e.stdout)
				return <-readErr
			}
			line = strings.TrimSpace(l)
		}
		switch line {
		case "":
			continue
		case "/exit":
			return nil
		}
		if _, err := io.WriteString(e.stdout, replyMark); err != nil {
			return err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		out := &endWriter{w: e.stdout, last: ' '}
		go func() { done <- turn(rctx, line, out) }()
		var err, canceled error
		select {
		case err = <-done:
		case <-interrupts:
			cancel()
			<-done
			canceled = errors.New("(reply canceled)")
		}
		cancel()
		if out.last != '\n' {
			fmt.Fprintln(e.stdout)
		}
		if canceled != nil {
			fmt.Fprintln(e.stderr, canceled)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			fmt.Fprintln(e.stderr, "error:", err)
		}
	}
}

// endWriter remembers the last byte written through it, so that the
// prompt after a cut reply starts on a new line.
type endWriter struct {
	w    io.Writer
	last byte
}

func (w *endWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if n > 0 {
		w.last = p[n-1]
	}
	return n, err
}

func newChatCmd(e env) *cobra.Command {
	var model, conv string
	var noStore bool
	cmd := &cobra.Command{
		Use:   "chat [MESSAGE]",
		Short: "Chat with a model; without MESSAGE, interactively at a prompt",
		Long: "Chat in a stored conversation (a new one unless --conversation is given), streaming the reply.\n" +
			"With --no-store, send a plain /v1/chat/completions request instead: nothing is stored.\n" +
			"Without MESSAGE, chat at a \"" + promptMark + "\" prompt, one message per line; each reply follows\n" +
			"\"" + replyMark + "\". Ctrl-C while a reply streams cancels that reply (stored as incomplete);\n" +
			"Ctrl-C at the prompt, end of input (Ctrl-D) or /exit ends the chat.\n" +
			"The server is TOLLGATE_SERVER (default " + defaultServer + "), the credential TOLLGATE_API_KEY.",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c := newAPIClient(e.environ())
			var turn chatTurn
			if noStore {
				if conv != "" {
					return errors.New("--no-store and --conversation exclude each other: a stored conversation is not a plain completion")
				}
				m := model
				if m == "" {
					var err error
					if m, err = firstModel(ctx, c); err != nil {
						return err
					}
				}
				var history []llm.Message
				turn = func(ctx context.Context, content string, out io.Writer) error {
					msgs := append(slices.Clip(history), textMessage("user", content))
					reply, err := streamCompletion(ctx, c, m, msgs, out)
					if err == nil {
						history = append(msgs, textMessage("assistant", reply))
					}
					return err
				}
			} else {
				if conv == "" {
					m := model
					if m == "" {
						var err error
						if m, err = firstModel(ctx, c); err != nil {
							return err
						}
					}
					created, err := c.CreateConversation(ctx, httpapi.ConversationRequest{Model: &m})
					if err != nil {
						return fmt.Errorf("create conversation: %w", serverError(err))
					}
					conv = created.ID
					fmt.Fprintf(e.stderr, "conversation %s (model %s)\n", conv, m)
				}
				turn = func(ctx context.Context, content string, out io.Writer) error {
					return send(ctx, c, conv, model, content, out)
				}
			}
			if len(args) > 0 {
				return turn(ctx, strings.Join(args, " "), e.stdout)
			}
			return chatInteractive(ctx, e, turn)
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "model to use (default: the conversation's, or the first listed)")
	cmd.Flags().StringVar(&conv, "conversation", "", "continue this conversation id")
	cmd.Flags().BoolVar(&noStore, "no-store", false, "send a plain /v1/chat/completions request; store nothing")
	return cmd
}
