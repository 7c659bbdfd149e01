package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/httpapi"
	"github.com/tollgate/tollgate/internal/llm"
)

// CreateConversation creates a conversation (POST /api/conversations).
func (c *Client) CreateConversation(ctx context.Context, in httpapi.ConversationRequest) (httpapi.ConversationObject, error) {
	return call[httpapi.ConversationObject](ctx, c, http.MethodPost, "/api/conversations", in, http.StatusCreated)
}

// ListConversations lists the caller's conversations, newest activity
// first (GET /api/conversations).
func (c *Client) ListConversations(ctx context.Context, o ListOptions) (httpapi.ConversationList, error) {
	return get[httpapi.ConversationList](ctx, c, withQuery("/api/conversations", o.query()))
}

// Conversation returns one conversation (GET /api/conversations/{id});
// someone else's is 404 conversation_not_found.
func (c *Client) Conversation(ctx context.Context, id string) (httpapi.ConversationObject, error) {
	return get[httpapi.ConversationObject](ctx, c, "/api/conversations/"+url.PathEscape(id))
}

// UpdateConversation changes title, model or system prompt
// (PATCH /api/conversations/{id}).
func (c *Client) UpdateConversation(ctx context.Context, id string, in httpapi.ConversationRequest) (httpapi.ConversationObject, error) {
	return call[httpapi.ConversationObject](ctx, c, http.MethodPatch, "/api/conversations/"+url.PathEscape(id), in, http.StatusOK)
}

// DeleteConversation deletes a conversation (DELETE /api/conversations/{id}).
func (c *Client) DeleteConversation(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/conversations/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
}

// Messages lists a conversation's messages in order
// (GET /api/conversations/{id}/messages).
func (c *Client) Messages(ctx context.Context, conversationID string) (httpapi.MessageList, error) {
	return get[httpapi.MessageList](ctx, c, "/api/conversations/"+url.PathEscape(conversationID)+"/messages")
}

// PostMessage posts a message and waits for the stored reply
// (POST /api/conversations/{id}/messages without stream).
func (c *Client) PostMessage(ctx context.Context, conversationID string, in httpapi.PostMessageRequest) (httpapi.PostMessageResponse, error) {
	in.Stream = false
	return call[httpapi.PostMessageResponse](ctx, c, http.MethodPost, "/api/conversations/"+url.PathEscape(conversationID)+"/messages", in, http.StatusCreated)
}

// The event types of a streamed message post (SPEC 7).
const (
	EventMessageCreated = "message.created"
	EventMessageDelta   = "message.delta"
	EventMessageDone    = "message.done"
	EventError          = "error"
)

// MessageEvent is one event of a streamed message post. Message is set for
// message.created and message.done (the stored message), Delta for
// message.delta, Err for error (its Status is 0: the stream's status was
// 200; a message.done with the message's final status follows).
type MessageEvent struct {
	// ID is the event's live-stream id (SPEC 7.1), "" for error events.
	ID      string
	Type    string
	Message *httpapi.MessageObject
	Delta   *httpapi.DeltaEvent
	Err     *gateway.Error
}

// StreamMessage posts a message with stream: true and yields its events
// as they arrive. The request is sent when iteration starts; an error
// answer, a broken connection or an undecodable event ends the iteration
// with a non-nil error (an error answer as a *gateway.Error). Breaking
// out of the loop closes the connection.
func (c *Client) StreamMessage(ctx context.Context, conversationID string, in httpapi.PostMessageRequest) iter.Seq2[MessageEvent, error] {
	return func(yield func(MessageEvent, error) bool) {
		in.Stream = true
		resp, err := c.send(ctx, http.MethodPost, "/api/conversations/"+url.PathEscape(conversationID)+"/messages", in)
		if err != nil {
			yield(MessageEvent{}, err)
			return
		}
		defer resp.Body.Close()
		if err := wantStatus(resp, http.StatusOK); err != nil {
			yield(MessageEvent{}, err)
			return
		}
		for ev, err := range llm.ReadEvents(resp.Body) {
			if err != nil {
				yield(MessageEvent{}, fmt.Errorf("read message stream: %w", err))
				return
			}
			me, err := decodeMessageEvent(ev)
			if !yield(me, err) || err != nil {
				return
			}
		}
	}
}

func decodeMessageEvent(ev llm.Event) (MessageEvent, error) {
	me := MessageEvent{ID: ev.ID, Type: ev.Type}
	var err error
	switch ev.Type {
	case EventMessageCreated, EventMessageDone:
		me.Message = new(httpapi.MessageObject)
		err = json.Unmarshal([]byte(ev.Data), me.Message)
	case EventMessageDelta:
		me.Delta = new(httpapi.DeltaEvent)
		err = json.Unmarshal([]byte(ev.Data), me.Delta)
	case EventError:
		ge, ok := decodeEnvelope([]byte(ev.Data))
		if !ok {
			return me, fmt.Errorf("message stream: undecodable error event %q", ev.Data)
		}
		me.Err = ge
	}
	if err != nil {
		return me, fmt.Errorf("message stream: decode %s event: %w", ev.Type, err)
	}
	return me, nil
}

// EditMessage replaces a message's content (PATCH /api/messages/{id}).
func (c *Client) EditMessage(ctx context.Context, id, content string) (httpapi.MessageObject, error) {
	return call[httpapi.MessageObject](ctx, c, http.MethodPatch, "/api/messages/"+url.PathEscape(id),
		httpapi.EditMessageRequest{Content: &content}, http.StatusOK)
}

// DeleteMessage soft-deletes a message (DELETE /api/messages/{id}).
func (c *Client) DeleteMessage(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/messages/"+url.PathEscape(id), nil, nil, http.StatusNoContent)
}

// RestoreMessage undoes a soft delete (POST /api/messages/{id}/restore).
func (c *Client) RestoreMessage(ctx context.Context, id string) (httpapi.MessageObject, error) {
	return call[httpapi.MessageObject](ctx, c, http.MethodPost, "/api/messages/"+url.PathEscape(id)+"/restore", nil, http.StatusOK)
}

// Search runs a full-text search over the caller's messages
// (GET /api/search); limit 0 is the server's default.
func (c *Client) Search(ctx context.Context, q string, limit int) (httpapi.SearchResults, error) {
	v := url.Values{"q": {q}}
	if limit != 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	return get[httpapi.SearchResults](ctx, c, withQuery("/api/search", v))
}

// StreamEvent is one event of a conversation's live stream (SPEC 7.1):
// ID is its seq, Data its JSON (a message object, a DeltaEvent, a
// conversation object; {} for resync).
type StreamEvent struct {
	ID   string
	Type string
	Data json.RawMessage
}

// StreamConversation subscribes to a conversation's live events
// (GET /api/stream/conversations/{id}), resuming after lastEventID when
// it is not "", and yields them as they arrive. An error answer (a
// *gateway.Error) or a broken connection ends the iteration with a
// non-nil error; a stream the server ended ends it with io.EOF, so the
// caller can resume with the last ID it saw. Breaking out of the loop
// closes the connection.
func (c *Client) StreamConversation(ctx context.Context, conversationID, lastEventID string) iter.Seq2[StreamEvent, error] {
	return func(yield func(StreamEvent, error) bool) {
		hdr := []string{"Accept", "text/event-stream"}
		if lastEventID != "" {
			hdr = append(hdr, "Last-Event-ID", lastEventID)
		}
		resp, err := c.send(ctx, http.MethodGet, "/api/stream/conversations/"+url.PathEscape(conversationID), nil, hdr...)
		if err != nil {
			yield(StreamEvent{}, err)
			return
		}
		defer resp.Body.Close()
		for ev, err := range llm.ReadEvents(resp.Body) {
			if err != nil {
				yield(StreamEvent{}, fmt.Errorf("read conversation stream: %w", err))
				return
			}
			if !yield(StreamEvent{ID: ev.ID, Type: ev.Type, Data: json.RawMessage(ev.Data)}, nil) {
				return
			}
		}
		yield(StreamEvent{}, io.EOF)
	}
}
