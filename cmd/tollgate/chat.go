package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
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

func newChatCmd(e env) *cobra.Command {
	var model, conv string
	cmd := &cobra.Command{
		Use:   "chat [MESSAGE]",
		Short: "Chat with a model; without MESSAGE, read one message per line",
		Long: "Chat in a stored conversation (a new one unless --conversation is given), streaming the reply.\n" +
			"The server is TOLLGATE_SERVER (default " + defaultServer + "), the credential TOLLGATE_API_KEY.",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c := newAPIClient(e.environ())
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
			if len(args) > 0 {
				return send(ctx, c, conv, model, strings.Join(args, " "), e.stdout)
			}
			sc := bufio.NewScanner(e.stdin)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				if err := send(ctx, c, conv, model, line, e.stdout); err != nil {
					return err
				}
			}
			return sc.Err()
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "model to use (default: the conversation's, or the first listed)")
	cmd.Flags().StringVar(&conv, "conversation", "", "continue this conversation id")
	return cmd
}
