package sqlstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

func engines(t *testing.T, f func(t *testing.T, st *sqlstore.Store)) {
	for name, open := range map[string]func(testing.TB) *sqlstore.Store{"SQLite": sqltest.SQLite, "Postgres": sqltest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, open(t))
		})
	}
}

// postMessage stores content as the first message of a new conversation
// of o and returns their ids.
func postMessage(t *testing.T, st *sqlstore.Store, o gateway.Owner, content string) (conv, msg string) {
	t.Helper()
	ctx := context.Background()
	c, err := st.CreateConversation(ctx, o, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, x.User.ID
}

// TestSearchIndexIsScoped: the full-text index alone, without the SQL
// access filter, returns exactly the messages the caller may read — its
// own, its end users' (tenant-wide), and those of conversations it
// participates in — so a search never walks other users' matches. It
// follows edits, participant changes and deletions.
func TestSearchIndexIsScoped(t *testing.T) {
	t.Parallel()
	engines(t, testSearchIndexIsScoped)
}

func testSearchIndexIsScoped(t *testing.T, st *sqlstore.Store) {
	ctx := context.Background()
	alice := gateway.Owner{UserID: "alice"}
	bob := gateway.Owner{UserID: "bob"}
	carol := gateway.Owner{UserID: "carol"}
	e1 := gateway.Owner{UserID: "app", EndUserID: "e1"}
	e2 := gateway.Owner{UserID: "app", EndUserID: "e2"}
	app := gateway.Owner{UserID: "app"}
	tenant := gateway.Owner{UserID: "app", AllEndUsers: true}
	// An owner id that would be the concatenation of another's parts must
	// not share its token.
	tricky := gateway.Owner{UserID: "ap", EndUserID: "pe1"}
	post := func(o gateway.Owner, content string) (conv, msg string) { return postMessage(t, st, o, content) }
	_, aMsg := post(alice, "zebra crossing")
	_, bMsg := post(bob, "zebra stripes")
	cConv, cMsg := post(carol, "zebra shared")
	_, e1Msg := post(e1, "zebra end user one")
	_, e2Msg := post(e2, "zebra end user two")
	_, appMsg := post(app, "zebra app itself")
	_, trickyMsg := post(tricky, "zebra tricky")

	check := func(name string, o gateway.Owner, q string, want ...string) {
		t.Helper()
		got, err := st.IndexHitsForTest(ctx, o, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: index hits = %v, want %v", name, got, want)
		}
	}
	check("alice", alice, "zebra", aMsg)
	check("bob", bob, "zebra", bMsg)
	check("end user e1", e1, "zebra", e1Msg)
	check("app itself", app, "zebra", appMsg)
	check("tenant-wide", tenant, "zebra", e1Msg, e2Msg)
	check("tricky owner", tricky, "zebra", trickyMsg)
	check("words and access both", alice, "zebra stripes")

	if _, err := st.AddParticipant(ctx, carol, cConv, "alice", gateway.ParticipantReader); err != nil {
		t.Fatal(err)
	}
	check("participant", alice, "zebra", aMsg, cMsg)
	check("owner of the shared one", carol, "zebra", cMsg)
	if _, err := st.EditMessage(ctx, carol, cMsg, "okapi shared"); err != nil {
		t.Fatal(err)
	}
	check("after edit, old word", alice, "zebra", aMsg)
	check("after edit, new word", alice, "okapi", cMsg)
	if _, err := st.RemoveParticipant(ctx, carol, cConv, "alice"); err != nil {
		t.Fatal(err)
	}
	check("removed participant", alice, "okapi")
	if err := st.DeleteConversation(ctx, carol, cConv); err != nil {
		t.Fatal(err)
	}
	check("deleted conversation", carol, "okapi")
	// The access tokens live in their own column: a word never matches
	// one, and a token typed as a word matches nothing.
	for _, o := range []gateway.Owner{alice, e1, tenant} {
		tokens, err := st.AccessTokensForTest(ctx, o)
		if err != nil || len(tokens) == 0 {
			t.Fatalf("tokens of %+v: %v, %v", o, tokens, err)
		}
		for _, tok := range tokens {
			hits, err := st.SearchMessages(ctx, o, tok, 10)
			if err != nil || len(hits) != 0 {
				t.Errorf("searching the token %q as %+v: %v, %v; want nothing", tok, o, hits, err)
			}
		}
	}
}

// TestSearchPlanUsesAccessIndex: on PostgreSQL a small user's search runs
// on the access_tsv index alone, with a custom plan and with the generic
// plan a prepared statement switches to after five executions, with a
// heavy user's 20,000 matching messages in the table.
func TestSearchPlanUsesAccessIndex(t *testing.T) {
	t.Parallel()
	st := sqltest.Postgres(t)
	ctx := context.Background()
	db := st.DBForTest()
	small := gateway.Owner{UserID: "small"}
	c, err := st.CreateConversation(ctx, small, gateway.Conversation{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := st.StartExchange(ctx, small, gateway.NewExchange{ConversationID: c.ID, Content: "common words"}); err != nil {
			t.Fatal(err)
		}
	}
	// A fixture, not the code under test: the heavy user's rows in bulk.
	for _, q := range []string{
		`INSERT INTO conversations (id, user_id, title, created_at, updated_at, last_activity_at)
			SELECT 'hc' || g, 'heavy', '', now(), now(), now() FROM generate_series(1, 2000) g`,
		`INSERT INTO messages (id, conversation_id, user_id, role, content, status, created_at)
			SELECT 'hm' || g, 'hc' || (g % 2000 + 1), 'heavy', 'user', 'common text number ' || g, 'complete', now()
			FROM generate_series(1, 20000) g`,
		`ANALYZE messages`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stmt, args, err := st.SearchSQLForTest(ctx, small, "common", 20)
	if err != nil {
		t.Fatal(err)
	}
	lits := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			lits[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
		} else {
			lits[i] = fmt.Sprint(a)
		}
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			tx, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// Prepared statements outlive the transaction; the connection
			// goes back to the pool.
			name := "search_plan_" + mode
			defer func() { _, _ = conn.ExecContext(context.Background(), `DEALLOCATE `+name) }()
			// Without sequential scans (a table this small would rather
			// be read whole) the planner picks among the index paths: the
			// owner filter must not offer one to AND with (a generic plan
			// did, and read every row with end_user_id = '').
			for _, q := range []string{`SET LOCAL plan_cache_mode = ` + mode, `SET LOCAL enable_seqscan = off`, `PREPARE ` + name + ` AS ` + stmt} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rows, err := tx.QueryContext(ctx, `EXPLAIN EXECUTE `+name+`(`+strings.Join(lits, ", ")+`)`)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			rows.Close()
			text := strings.Join(plan, "\n")
			if !strings.Contains(text, "messages_access_tsv") || strings.Contains(text, "messages_owner") || strings.Contains(text, "Seq Scan on messages") {
				t.Fatalf("plan does not use messages_access_tsv alone:\n%s", text)
			}
		})
	}
	hits, err := st.SearchMessages(ctx, small, "common", 20)
	if err != nil || len(hits) != 5 {
		t.Fatalf("small user's search = %d hits, %v; want 5", len(hits), err)
	}
}

// TestSearchRankingIgnoresOtherUsers: a user's ranking depends on its own
// messages only. Alice's two messages hold "apple" and "banana" twice
// each the other way round; Bob's 60 messages with "banana" (which made
// SQLite's bm25 weigh "banana" near zero and put Alice's apple-heavy
// message first) change nothing. Equal scores: newest first. More
// occurrences and a shorter message rank higher.
func TestSearchRankingIgnoresOtherUsers(t *testing.T) {
	t.Parallel()
	engines(t, func(t *testing.T, st *sqlstore.Store) {
		ctx := context.Background()
		alice, bob := gateway.Owner{UserID: "alice"}, gateway.Owner{UserID: "bob"}
		post := func(o gateway.Owner, content string) string {
			_, msg := postMessage(t, st, o, content)
			return msg
		}
		appleHeavy := post(alice, "apple apple banana")
		bananaHeavy := post(alice, "Banana apple BANANA")
		long := post(alice, "apple banana and many other words that make this message long")
		search := func() []string {
			t.Helper()
			hits, err := st.SearchMessages(ctx, alice, "apple banana", 10)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, h := range hits {
				ids = append(ids, h.MessageID)
			}
			return ids
		}
		want := []string{bananaHeavy, appleHeavy, long}
		if got := search(); !slices.Equal(got, want) {
			t.Fatalf("ranking = %v, want %v", got, want)
		}
		for i := range 60 {
			post(bob, fmt.Sprintf("banana number %d", i))
		}
		if got := search(); !slices.Equal(got, want) {
			t.Fatalf("ranking after another user's messages = %v, want %v (unchanged)", got, want)
		}
	})
}
