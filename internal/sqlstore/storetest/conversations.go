package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/gateway"
)

func testConversations(t *testing.T, open Opener) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	bob := gateway.Owner{UserID: "bob"}
	app1 := gateway.Owner{UserID: "app", EndUserID: "e1"}
	app2 := gateway.Owner{UserID: "app", EndUserID: "e2"}
	tenant := gateway.Owner{UserID: "app", AllEndUsers: true}

	t.Run("CreateGetUpdateDelete", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, alice, gateway.Conversation{Title: "t", Model: "m", SystemPrompt: "be brief"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.GetConversation(ctx, alice, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Fatalf("get (-created +got):\n%s", diff)
		}
		title := "new"
		up, err := st.UpdateConversation(ctx, alice, c.ID, gateway.ConversationPatch{Title: &title})
		if err != nil {
			t.Fatal(err)
		}
		if up.Title != "new" || up.Model != "m" || up.SystemPrompt != "be brief" || up.UpdatedAt.Before(c.UpdatedAt) {
			t.Fatalf("updated = %+v", up)
		}
		if err := st.DeleteConversation(ctx, alice, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetConversation(ctx, alice, c.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("get after delete: %v, want ErrNotFound", err)
		}
		if err := st.DeleteConversation(ctx, alice, c.ID); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("delete twice: %v, want ErrNotFound", err)
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		type owned struct {
			o    gateway.Owner
			conv string
			msg  string
		}
		var all []owned
		for _, o := range []gateway.Owner{alice, bob, app1, app2} {
			c, err := st.CreateConversation(ctx, o, gateway.Conversation{Title: o.UserID + o.EndUserID})
			if err != nil {
				t.Fatal(err)
			}
			x, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: "secret word zebra"})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, owned{o, c.ID, x.User.ID})
		}
		title := "x"
		for _, me := range all {
			for _, other := range all {
				if me == other {
					continue
				}
				o, cid, mid := me.o, other.conv, other.msg
				checks := map[string]error{}
				_, checks["GetConversation"] = st.GetConversation(ctx, o, cid)
				_, checks["UpdateConversation"] = st.UpdateConversation(ctx, o, cid, gateway.ConversationPatch{Title: &title})
				checks["DeleteConversation"] = st.DeleteConversation(ctx, o, cid)
				_, checks["ListMessages"] = st.ListMessages(ctx, o, cid)
				_, checks["StartExchange"] = st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: cid, Content: "x"})
				_, checks["EditMessage"] = st.EditMessage(ctx, o, mid, "x")
				_, checks["DeleteMessage"] = st.DeleteMessage(ctx, o, mid)
				_, checks["RestoreMessage"] = st.RestoreMessage(ctx, o, mid)
				_, checks["FinishMessage"] = st.FinishMessage(ctx, o, mid, gateway.MessageResult{Status: gateway.MessageComplete})
				for name, err := range checks {
					if !errors.Is(err, gateway.ErrNotFound) {
						t.Errorf("%s by %+v on %+v's: %v, want ErrNotFound", name, me.o, other.o, err)
					}
				}
				// Replying in my own conversation to another owner's message.
				if _, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: me.conv, ParentID: mid, Content: "x"}); !errors.Is(err, gateway.ErrBadParent) {
					t.Errorf("StartExchange with foreign parent: %v, want ErrBadParent", err)
				}
			}
			list, err := st.ListConversations(ctx, me.o, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].ID != me.conv {
				t.Errorf("list of %+v = %+v, want only %s", me.o, list, me.conv)
			}
			hits, err := st.SearchMessages(ctx, me.o, "zebra", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 1 || hits[0].MessageID != me.msg {
				t.Errorf("search of %+v = %+v, want only %s", me.o, hits, me.msg)
			}
		}
		// Tenant-wide: both end users of app, not alice or bob.
		list, err := st.ListConversations(ctx, tenant, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].UserID != "app" || list[1].UserID != "app" {
			t.Fatalf("tenant-wide list = %+v", list)
		}
		if _, err := st.GetConversation(ctx, tenant, all[2].conv); err != nil {
			t.Fatalf("tenant-wide get: %v", err)
		}
		if _, err := st.GetConversation(ctx, tenant, all[0].conv); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("tenant-wide get of alice's: %v", err)
		}
		if _, err := st.CreateConversation(ctx, tenant, gateway.Conversation{}); err == nil {
			t.Fatal("tenant-wide create succeeded")
		}
	})

	// Ids no row can have answer ErrNotFound on both engines (PostgreSQL
	// rejects NUL and invalid UTF-8 in text parameters).
	t.Run("MalformedIDs", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		for _, id := range []string{"conv_\x00", "msg_\xff", ""} {
			title := "x"
			checks := map[string]error{}
			_, checks["GetConversation"] = st.GetConversation(ctx, alice, id)
			_, checks["UpdateConversation"] = st.UpdateConversation(ctx, alice, id, gateway.ConversationPatch{Title: &title})
			checks["DeleteConversation"] = st.DeleteConversation(ctx, alice, id)
			_, checks["ListMessages"] = st.ListMessages(ctx, alice, id)
			_, checks["StartExchange"] = st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: id, Content: "x"})
			_, checks["EditMessage"] = st.EditMessage(ctx, alice, id, "x")
			_, checks["DeleteMessage"] = st.DeleteMessage(ctx, alice, id)
			_, checks["RestoreMessage"] = st.RestoreMessage(ctx, alice, id)
			_, checks["FinishMessage"] = st.FinishMessage(ctx, alice, id, gateway.MessageResult{Status: gateway.MessageComplete})
			for name, err := range checks {
				if !errors.Is(err, gateway.ErrNotFound) {
					t.Errorf("%s(%q): %v, want ErrNotFound", name, id, err)
				}
			}
		}
		if hits, err := st.SearchMessages(ctx, alice, "a\x00b\xff", 10); err != nil || len(hits) != 0 {
			t.Fatalf("search with NUL and invalid UTF-8: %v, %v", hits, err)
		}
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		var ids []string
		for range 5 {
			c, err := st.CreateConversation(ctx, alice, gateway.Conversation{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		// Activity on the first moves it to the front.
		if _, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: ids[0], Content: "hi"}); err != nil {
			t.Fatal(err)
		}
		var got []string
		var cur *gateway.ConversationCursor
		for range 10 {
			page, err := st.ListConversations(ctx, alice, cur, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				got = append(got, c.ID)
			}
			if len(page) < 2 {
				break
			}
			last := page[len(page)-1]
			cur = &gateway.ConversationCursor{LastActivityAt: last.LastActivityAt, ID: last.ID}
		}
		if len(got) != 5 || got[0] != ids[0] {
			t.Fatalf("pages = %v, want 5 ids starting with %s", got, ids[0])
		}
		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("duplicate %s in %v", id, got)
			}
			seen[id] = true
		}
	})

	t.Run("ExchangeAndBranches", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, err := st.CreateConversation(ctx, app1, gateway.Conversation{})
		if err != nil {
			t.Fatal(err)
		}
		x1, err := st.StartExchange(ctx, app1, gateway.NewExchange{ConversationID: c.ID, Content: "one", Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if x1.User.ParentID != "" || x1.Assistant.ParentID != x1.User.ID || x1.Assistant.Status != gateway.MessagePending || x1.Assistant.Model != "m" {
			t.Fatalf("first exchange = %+v", x1)
		}
		a1, err := st.FinishMessage(ctx, app1, x1.Assistant.ID, gateway.MessageResult{Content: "ONE", Status: gateway.MessageComplete, PromptTokens: 3, CompletionTokens: 1})
		if err != nil {
			t.Fatal(err)
		}
		if a1.Content != "ONE" || a1.Status != gateway.MessageComplete || a1.PromptTokens != 3 || a1.CompletionTokens != 1 {
			t.Fatalf("finished = %+v", a1)
		}
		if _, err := st.FinishMessage(ctx, app1, x1.Assistant.ID, gateway.MessageResult{Content: "again", Status: gateway.MessageComplete}); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("second finish: %v, want ErrNotFound", err)
		}
		// Default parent: the latest message.
		x2, err := st.StartExchange(ctx, app1, gateway.NewExchange{ConversationID: c.ID, Content: "two"})
		if err != nil {
			t.Fatal(err)
		}
		if x2.User.ParentID != a1.ID {
			t.Fatalf("default parent = %q, want %q", x2.User.ParentID, a1.ID)
		}
		contents := func(ms []gateway.Message) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.Role+":"+m.Content)
			}
			return out
		}
		if diff := cmp.Diff([]string{"user:one", "assistant:ONE", "user:two"}, contents(x2.Path)); diff != "" {
			t.Fatalf("path (-want +got):\n%s", diff)
		}
		// A branch replying to the first user message skips the pending one.
		x3, err := st.StartExchange(ctx, app1, gateway.NewExchange{ConversationID: c.ID, ParentID: x1.User.ID, Content: "three"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"user:one", "user:three"}, contents(x3.Path)); diff != "" {
			t.Fatalf("branch path (-want +got):\n%s", diff)
		}
		if _, err := st.StartExchange(ctx, app1, gateway.NewExchange{ConversationID: c.ID, ParentID: "msg_nope", Content: "x"}); !errors.Is(err, gateway.ErrBadParent) {
			t.Fatalf("unknown parent: %v", err)
		}
		msgs, err := st.ListMessages(ctx, app1, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{x1.User.ID, x1.Assistant.ID, x2.User.ID, x2.Assistant.ID, x3.User.ID, x3.Assistant.ID}
		var got []string
		for _, m := range msgs {
			got = append(got, m.ID)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("list order (-want +got):\n%s", diff)
		}
	})

	t.Run("EditDeleteRestore", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, _ := st.CreateConversation(ctx, alice, gateway.Conversation{})
		x, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: c.ID, Content: "original words"})
		if err != nil {
			t.Fatal(err)
		}
		id := x.User.ID
		ed, err := st.EditMessage(ctx, alice, id, "edited words")
		if err != nil {
			t.Fatal(err)
		}
		if ed.Content != "edited words" || ed.EditedAt == nil {
			t.Fatalf("edited = %+v", ed)
		}
		search := func(q string) int {
			hits, err := st.SearchMessages(ctx, alice, q, 10)
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			return len(hits)
		}
		if search("original") != 0 || search("edited") != 1 {
			t.Fatal("search does not follow the edit")
		}
		del, err := st.DeleteMessage(ctx, alice, id)
		if err != nil {
			t.Fatal(err)
		}
		if del.ID != id || del.ConversationID != c.ID || del.DeletedAt == nil || del.Content != "" {
			t.Fatalf("DeleteMessage returned %+v, want the message with deleted_at and no content", del)
		}
		if _, err := st.DeleteMessage(ctx, alice, id); err != nil {
			t.Fatalf("delete twice: %v", err)
		}
		msgs, _ := st.ListMessages(ctx, alice, c.ID)
		if msgs[0].DeletedAt == nil || msgs[0].Content != "" {
			t.Fatalf("deleted message listed as %+v", msgs[0])
		}
		if search("edited") != 0 {
			t.Fatal("deleted message found by search")
		}
		if _, err := st.EditMessage(ctx, alice, id, "x"); !errors.Is(err, gateway.ErrNotFound) {
			t.Fatalf("edit deleted: %v", err)
		}
		r, err := st.RestoreMessage(ctx, alice, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.DeletedAt != nil || r.Content != "edited words" {
			t.Fatalf("restored = %+v", r)
		}
		if search("edited") != 1 {
			t.Fatal("restored message not found by search")
		}
	})

	t.Run("SearchHostileInput", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		c, _ := st.CreateConversation(ctx, alice, gateway.Conversation{})
		texts := []string{
			`the quick brown fox`,
			`100% sure that a_b is NOT "quoted" OR near`,
			`DROP TABLE messages; -- said nobody`,
			`fox fox fox everywhere`,
		}
		ids := map[string]string{}
		for _, txt := range texts {
			x, err := st.StartExchange(ctx, alice, gateway.NewExchange{ConversationID: c.ID, Content: txt})
			if err != nil {
				t.Fatal(err)
			}
			ids[txt] = x.User.ID
		}
		for _, tc := range []struct {
			q    string
			want []string
		}{
			{`fox`, []string{texts[3], texts[0]}}, // ranked: more occurrences first
			{`quick fox`, []string{texts[0]}},
			{`"quoted"`, []string{texts[1]}},
			{`NOT`, []string{texts[1]}},
			{`OR`, []string{texts[1]}},
			{`near(`, []string{texts[1]}},
			{`100%`, []string{texts[1]}},
			{`a_b`, []string{texts[1]}},
			{`%`, nil},
			{`_`, nil},
			{`*`, nil},
			{`"`, nil},
			{`'; DROP TABLE messages; --`, []string{texts[2]}},
			{`fox AND zebra`, nil},
			{`content:fox`, nil},
			{`^fox`, []string{texts[3], texts[0]}},
			{`' OR 1=1 --`, nil},
			{``, nil},
		} {
			hits, err := st.SearchMessages(ctx, alice, tc.q, 10)
			if err != nil {
				t.Fatalf("search %q: %v", tc.q, err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, h.MessageID)
				if h.ConversationID != c.ID || h.Snippet == "" || h.CreatedAt.IsZero() {
					t.Fatalf("search %q: hit %+v", tc.q, h)
				}
			}
			var want []string
			for _, txt := range tc.want {
				want = append(want, ids[txt])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("search %q (-want +got):\n%s", tc.q, diff)
			}
		}
		hits, _ := st.SearchMessages(ctx, alice, "quick", 10)
		if len(hits) != 1 || hits[0].Snippet != "the **quick** brown fox" {
			t.Fatalf("snippet = %+v", hits)
		}
	})
}
