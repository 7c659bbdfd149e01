package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/llm"
)

// defaultServer is the server chat talks to without TOLLGATE_SERVER.
const defaultServer = "http://127.0.0.1:8080"

// chatClient is the little of the HTTP API that `tollgate chat` needs.
type chatClient struct {
	base string
	key  string
	hc   *http.Client
}

// newChatClient uses the server and token stored by `tollgate login`;
// TOLLGATE_SERVER and TOLLGATE_API_KEY override them.
func newChatClient(environ []string) *chatClient {
	c := &chatClient{base: defaultServer, hc: &http.Client{}}
	if creds, err := loadCredentials(environ); err == nil {
		c.base, c.key = creds.Server, creds.AccessToken
	}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "TOLLGATE_SERVER":
			if v != "" {
				c.base = strings.TrimRight(v, "/")
			}
		case "TOLLGATE_API_KEY":
			c.key = v
		}
	}
	return c
}

// apiError is an error envelope from the server.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

func envelopeError(status int, body []byte) error {
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error.Code == "" {
		return &apiError{Status: status, Code: "unknown", Message: strings.TrimSpace(string(body))}
	}
	return &apiError{Status: status, Code: env.Error.Code, Message: env.Error.Message}
}

// do sends a JSON request and returns the response, or the server's error
// for a status outside 2xx.
func (c *chatClient) do(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, envelopeError(resp.StatusCode, b)
	}
	return resp, nil
}

func (c *chatClient) getJSON(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.do(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// firstModel is the first model /v1/models lists.
func (c *chatClient) firstModel(ctx context.Context) (string, error) {
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := c.getJSON(ctx, "GET", "/v1/models", nil, &list); err != nil {
		return "", fmt.Errorf("list models: %w", err)
	}
	if len(list.Data) == 0 {
		return "", errors.New("the server serves no models")
	}
	return list.Data[0].ID, nil
}

// send posts one message with stream: true and writes the reply's text to
// out as it arrives.
func (c *chatClient) send(ctx context.Context, conv, model, content string, out io.Writer) error {
	in := map[string]any{"content": content, "stream": true}
	if model != "" {
		in["model"] = model
	}
	resp, err := c.do(ctx, "POST", "/api/conversations/"+conv+"/messages", in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var failure error
	for ev, err := range llm.ReadEvents(resp.Body) {
		if err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		switch ev.Type {
		case "message.delta":
			var d struct {
				Delta string `json:"delta"`
			}
			if json.Unmarshal([]byte(ev.Data), &d) == nil {
				if _, err := io.WriteString(out, d.Delta); err != nil {
					return err
				}
			}
		case "error":
			failure = envelopeError(0, []byte(ev.Data))
		case "message.done":
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
			c := newChatClient(e.environ())
			if conv == "" {
				m := model
				if m == "" {
					var err error
					if m, err = c.firstModel(ctx); err != nil {
						return err
					}
				}
				var created struct {
					ID string `json:"id"`
				}
				if err := c.getJSON(ctx, "POST", "/api/conversations", map[string]string{"model": m}, &created); err != nil {
					return fmt.Errorf("create conversation: %w", err)
				}
				conv = created.ID
				fmt.Fprintf(e.stderr, "conversation %s (model %s)\n", conv, m)
			}
			if len(args) > 0 {
				return c.send(ctx, conv, model, strings.Join(args, " "), e.stdout)
			}
			sc := bufio.NewScanner(e.stdin)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				line := strings.TrimSpace(sc.Text())
				if line == "" {
					continue
				}
				if err := c.send(ctx, conv, model, line, e.stdout); err != nil {
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
