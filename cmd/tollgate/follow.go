package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/internal/client"
	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
)

func newFollowCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "follow CONVERSATION_ID",
		Short: "Print a conversation's live events as they happen, resuming after drops",
		Long: "Follow GET /api/stream/conversations/{id}: reply text is printed as it streams in, every other\n" +
			"event as one line. A dropped connection is resumed with Last-Event-ID, so nothing is missed.\n" +
			"The server is TOLLGATE_SERVER (default " + defaultServer + "), the credential TOLLGATE_API_KEY.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return follow(cmd.Context(), newAPIClient(e.environ()), args[0], e.stdout, e.stderr)
		},
	}
}

// follow prints the conversation's events until ctx ends. An error answer
// (404, 401, ...) ends it; a dropped stream is resumed after the last id
// seen, with backoff while the server cannot be reached.
func follow(ctx context.Context, c *client.Client, conv string, out, errOut io.Writer) error {
	p := &followPrinter{out: out}
	last := ""
	backoff := 250 * time.Millisecond
	for {
		got := false
		var streamErr error
		for ev, err := range c.StreamConversation(ctx, conv, last) {
			if err != nil {
				streamErr = err
				break
			}
			got = true
			if ev.ID != "" {
				last = ev.ID
			}
			p.print(ev)
		}
		if ctx.Err() != nil {
			p.endLine()
			return nil
		}
		if ge, ok := gateway.AsError(streamErr); ok && ge.Status != 0 && ge.Status < 500 {
			p.endLine()
			return serverError(streamErr)
		}
		if got {
			backoff = 250 * time.Millisecond
		}
		if !errors.Is(streamErr, io.EOF) {
			fmt.Fprintf(errOut, "tollgate follow: %v; resuming after event %q\n", streamErr, last)
		}
		select {
		case <-ctx.Done():
			p.endLine()
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// followPrinter writes deltas as running text and every other event as a
// line of its own.
type followPrinter struct {
	out    io.Writer
	inText bool
}

func (p *followPrinter) endLine() {
	if p.inText {
		fmt.Fprintln(p.out)
		p.inText = false
	}
}

func (p *followPrinter) print(ev client.StreamEvent) {
	switch ev.Type {
	case "message.delta":
		var d httpapi.DeltaEvent
		if json.Unmarshal(ev.Data, &d) == nil {
			fmt.Fprint(p.out, d.Delta)
			p.inText = true
		}
		return
	case "resync":
		p.endLine()
		fmt.Fprintf(p.out, "[%s] resync: events were missed; refetch the conversation\n", ev.ID)
		return
	case "conversation.updated":
		var c httpapi.ConversationObject
		_ = json.Unmarshal(ev.Data, &c)
		p.endLine()
		fmt.Fprintf(p.out, "[%s] %s %s title=%q model=%q\n", ev.ID, ev.Type, c.ID, c.Title, c.Model)
		return
	}
	var m httpapi.MessageObject
	if json.Unmarshal(ev.Data, &m) != nil || m.ID == "" {
		p.endLine()
		fmt.Fprintf(p.out, "[%s] %s %s\n", ev.ID, ev.Type, ev.Data)
		return
	}
	p.endLine()
	line := fmt.Sprintf("[%s] %s %s %s %s", ev.ID, ev.Type, m.ID, m.Role, m.Status)
	if ev.Type == "message.created" && m.Role == "user" || ev.Type == "message.updated" {
		line += fmt.Sprintf(" %q", truncate(m.Content, 80))
	}
	fmt.Fprintln(p.out, line)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
