package httpapi_test

import (
	"net/http"
	"testing"
	"time"
)

// TestThreads: roots with the number of (not deleted) replies under them
// and the time of their newest message, newest activity first.
func TestThreads(t *testing.T) {
	t.Parallel()
	e := newConvEnv(t, envOpt{})
	c := e.createConv(t, alice, `{}`)
	a := e.post(t, alice, c.ID, `{"content":"thread a"}`)
	b := e.post(t, alice, c.ID, `{"content":"thread b","parent_id":""}`)
	_ = b
	// A second root: replying to nothing is not possible through the API
	// (an empty parent continues the newest line), so thread b is in a's
	// tree; a branch from a's first reply adds to a.
	e.post(t, alice, c.ID, `{"content":"branch","parent_id":"`+a.AssistantMessage.ID+`"}`)
	e.callJSON(t, alice, "DELETE", "/api/messages/"+b.UserMessage.ID, "", http.StatusNoContent, nil)
	var list struct {
		Data []struct {
			Root           msgJSON   `json:"root"`
			ReplyCount     int       `json:"reply_count"`
			LastActivityAt time.Time `json:"last_activity_at"`
		} `json:"data"`
	}
	e.callJSON(t, alice, "GET", "/api/conversations/"+c.ID+"/threads", "", http.StatusOK, &list)
	msgs := e.messages(t, alice, c.ID)
	if len(list.Data) != 1 || list.Data[0].Root.ID != a.UserMessage.ID || list.Data[0].ReplyCount != len(msgs)-2 ||
		!list.Data[0].LastActivityAt.Equal(msgs[len(msgs)-1].CreatedAt) {
		t.Fatalf("threads = %+v (messages %d)", list.Data, len(msgs))
	}
	e.callJSON(t, bob, "GET", "/api/conversations/"+c.ID+"/threads", "", http.StatusNotFound, nil)
	empty := e.createConv(t, alice, `{}`)
	e.callJSON(t, alice, "GET", "/api/conversations/"+empty.ID+"/threads", "", http.StatusOK, &list)
	if list.Data == nil || len(list.Data) != 0 {
		t.Fatalf("threads of an empty conversation = %+v", list.Data)
	}
}
