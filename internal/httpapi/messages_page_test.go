package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

// TestMessagesPagination: GET /api/conversations/{id}/messages pages with
// limit and next_cursor (exact pages, in order, next_cursor null on the
// last); without parameters a conversation under 1000 messages comes whole
// with next_cursor null (the answer existing clients read); a cursor that
// is not one of this list's next_cursors, and a bad limit, are 400
// invalid_field; branches (parent_id) are unchanged by paging.
func TestMessagesPagination(t *testing.T) {
	t.Parallel()
	engines(t, testMessagesPagination)
}

type pageJSON struct {
	Data       []msgJSON `json:"data"`
	NextCursor *string   `json:"next_cursor"`
}

func testMessagesPagination(t *testing.T, db func(testing.TB) gateway.ConversationStore) {
	e := newConvEnv(t, envOpt{db: db})
	c := e.createConv(t, alice, "")
	first := e.post(t, alice, c.ID, `{"content":"one"}`)
	e.post(t, alice, c.ID, `{"content":"two"}`)
	// A branch: a second reply to the first user message's parent chain.
	branch := e.post(t, alice, c.ID, `{"content":"one again","parent_id":"`+first.AssistantMessage.ID+`"}`)
	e.post(t, alice, c.ID, `{"content":"three"}`)
	all := e.messages(t, alice, c.ID)
	if len(all) != 8 {
		t.Fatalf("%d messages, want 8", len(all))
	}
	var ids []string
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	base := "/api/conversations/" + c.ID + "/messages"

	var whole pageJSON
	e.callJSON(t, alice, "GET", base, "", http.StatusOK, &whole)
	if whole.NextCursor != nil || len(whole.Data) != 8 {
		t.Fatalf("default page: %d messages, next_cursor %v; want 8 and null", len(whole.Data), whole.NextCursor)
	}
	for _, limit := range []string{"1", "3", "4", "7", "8"} {
		t.Run("Limit"+limit, func(t *testing.T) {
			var got []string
			var pages int
			q := "?limit=" + limit
			for {
				var p pageJSON
				e.callJSON(t, alice, "GET", base+q, "", http.StatusOK, &p)
				pages++
				for _, m := range p.Data {
					got = append(got, m.ID)
				}
				if p.NextCursor == nil {
					break
				}
				if pages > 10 {
					t.Fatal("more pages than messages")
				}
				q = "?limit=" + limit + "&cursor=" + url.QueryEscape(*p.NextCursor)
			}
			if diff := cmp.Diff(ids, got); diff != "" {
				t.Fatalf("pages (-want +got):\n%s", diff)
			}
			n := map[string]int{"1": 8, "3": 3, "4": 2, "7": 2, "8": 1}[limit]
			if pages != n {
				t.Fatalf("%d pages, want %d", pages, n)
			}
		})
	}
	// The branch reply's parent is the first assistant message, in any page.
	var p pageJSON
	e.callJSON(t, alice, "GET", base+"?limit=2&cursor="+url.QueryEscape(enc(`{"after":"`+ids[3]+`"}`)), "", http.StatusOK, &p)
	if len(p.Data) != 2 || p.Data[0].ID != branch.UserMessage.ID || p.Data[0].ParentID == nil || *p.Data[0].ParentID != first.AssistantMessage.ID {
		t.Fatalf("page after %s = %+v", ids[3], p.Data)
	}

	other := e.createConv(t, alice, "")
	otherPost := e.post(t, alice, other.ID, `{"content":"elsewhere"}`)
	bobConv := e.createConv(t, bob, "")
	bobPost := e.post(t, bob, bobConv.ID, `{"content":"bob's"}`)
	cursorParam := "query.cursor"
	for name, cur := range map[string]string{
		"NotBase64":            "!!!",
		"NotJSON":              enc("nope"),
		"Nested":               enc(`{"after":{"x":1}}`),
		"NumberID":             enc(`{"after":1}`),
		"EmptyID":              enc(`{"after":""}`),
		"DuplicateKey":         enc(`{"after":"` + ids[0] + `","after":"` + ids[1] + `"}`),
		"UnknownMessage":       enc(`{"after":"msg_nope"}`),
		"OtherConversation":    enc(`{"after":"` + otherPost.UserMessage.ID + `"}`),
		"OtherOwnersMessage":   enc(`{"after":"` + bobPost.UserMessage.ID + `"}`),
		"NULByte":              enc("{\"after\":\"msg\\u0000x\"}"),
		"ConversationCursor":   enc(`{"t":1,"id":"` + c.ID + `"}`),
		"TrailingGarbage":      enc(`{"after":"` + ids[0] + `"}x`),
		"PaddedBase64":         base64.URLEncoding.EncodeToString([]byte(`{"after":"`+ids[0]+`"}`)) + "==",
		"StdBase64NotURLSafe+": "+/+/",
	} {
		t.Run("Cursor"+name, func(t *testing.T) {
			resp, b := e.call(t, alice, "GET", base+"?cursor="+url.QueryEscape(cur), "")
			wantError(t, resp, b, 400, "invalid_request_error", "invalid_field", &cursorParam)
		})
	}
	limitParam := "query.limit"
	for _, l := range []string{"0", "-1", "1001", "x", "1.5"} {
		resp, b := e.call(t, alice, "GET", base+"?limit="+l, "")
		wantError(t, resp, b, 400, "invalid_request_error", "invalid_field", &limitParam)
	}
	// Another owner's conversation stays 404 whatever the cursor.
	resp, b := e.call(t, bob, "GET", base+"?cursor="+url.QueryEscape(enc(`{"after":"`+ids[0]+`"}`)), "")
	wantError(t, resp, b, 404, "not_found_error", "conversation_not_found", nil)
	var raw map[string]json.RawMessage
	e.callJSON(t, alice, "GET", base+"?limit=1", "", http.StatusOK, &raw)
	if len(raw) != 2 || raw["data"] == nil || raw["next_cursor"] == nil {
		t.Fatalf("page keys = %v, want data and next_cursor", raw)
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
