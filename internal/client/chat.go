package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"

	"github.com/tollgate/tollgate/internal/llm"
)

// StreamChatCompletion posts a plain chat completion with stream: true
// (POST /v1/chat/completions; nothing is stored in conversations) and
// yields the text of each delta as it arrives. An error answer, an error
// frame after the stream began (both as a *gateway.Error, Status 0 for
// the frame), a broken connection or a stream that ends without [DONE]
// end the iteration with a non-nil error.
func (c *Client) StreamChatCompletion(ctx context.Context, in llm.ChatRequest) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		in.Stream = true
		resp, err := c.send(ctx, http.MethodPost, "/v1/chat/completions", in)
		if err != nil {
			yield("", err)
			return
		}
		defer resp.Body.Close()
		if err := wantStatus(resp, http.StatusOK); err != nil {
			yield("", err)
			return
		}
		for ev, err := range llm.ReadEvents(resp.Body) {
			if err != nil {
				yield("", fmt.Errorf("read completion stream: %w", err))
				return
			}
			if ev.Data == llm.Done {
				return
			}
			if ge, ok := decodeEnvelope([]byte(ev.Data)); ok {
				yield("", ge)
				return
			}
			var chunk llm.Chunk
			if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil {
				yield("", fmt.Errorf("completion stream: decode chunk: %w", err))
				return
			}
			for _, ch := range chunk.Choices {
				if ch.Index != 0 || ch.Delta.Content == nil || *ch.Delta.Content == "" {
					continue
				}
				if !yield(*ch.Delta.Content, nil) {
					return
				}
			}
		}
		yield("", errors.New("completion stream ended without [DONE]"))
	}
}
