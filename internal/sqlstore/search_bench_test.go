package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// benchSearchMessages is how many messages of other users the search
// benchmark loads (TOLLGATE_BENCH_SEARCH_MESSAGES, default 5*10^5).
func benchSearchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("TOLLGATE_BENCH_SEARCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 500_000
}

// BenchmarkSearchSmallUser measures a small user's search (10
// conversations, 100 messages, stored through the store) on SQLite with
// benchSearchMessages messages of other users in the table, loaded in
// bulk like bench -scale's (every third message has "common", every
// message one of ten topicN words; the fixture, not the code under test),
// and for comparison a heavy user's, who holds a tenth of them.
func BenchmarkSearchSmallUser(b *testing.B) {
	ctx := context.Background()
	st := sqltest.SQLite(b)
	small := gateway.Owner{UserID: "small"}
	for c := range 10 {
		conv, err := st.CreateConversation(ctx, small, gateway.Conversation{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 10 {
			content := fmt.Sprintf("alpha beta gamma delta words of message %d topic%d", c*10+i, (c*10+i)%10)
			if i%3 == 0 {
				content += " common"
			}
			if i%5 == 0 {
				content += " common again"
			}
			if _, err := st.StartExchange(ctx, small, gateway.NewExchange{ConversationID: conv.ID, Content: content}); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := benchSearchMessages()
	db := st.DBForTest()
	// In chunks: one statement stays within the store's query timeout.
	const chunk = 100_000
	for lo := 1; lo <= n; lo += chunk {
		hi := min(lo+chunk-1, n)
		gen := `WITH RECURSIVE g(i) AS (SELECT ` + strconv.Itoa(lo) + ` UNION ALL SELECT i + 1 FROM g WHERE i < ` + strconv.Itoa(hi) + `) `
		for _, q := range []string{
			`INSERT INTO conversations (id, user_id, title, created_at, updated_at, last_activity_at) ` + gen +
				`SELECT 'bc' || (i / 10), CASE WHEN (i / 10) % 10 = 0 THEN 'heavy' ELSE 'user' || ((i / 10) % 1000) END, '', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00'
				FROM g WHERE i % 10 = 0`,
			`INSERT INTO messages (id, conversation_id, user_id, role, content, status, created_at) ` + gen +
				`SELECT 'bm' || i, 'bc' || ((i + 9) / 10), CASE WHEN ((i + 9) / 10) % 10 = 0 THEN 'heavy' ELSE 'user' || (((i + 9) / 10) % 1000) END, 'user',
					'some words of text number ' || i || ' topic' || (i % 10) || CASE WHEN i % 3 = 0 THEN ' common' ELSE '' END,
					'complete', '2026-01-01 00:00:00+00:00' FROM g`,
		} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, o := range []gateway.Owner{small, {UserID: "heavy"}} {
		for _, q := range []string{"common", "common topic3"} {
			b.Run(fmt.Sprintf("messages=%d/user=%s/q=%s", n, o.UserID, q), func(b *testing.B) {
				for b.Loop() {
					hits, err := st.SearchMessages(ctx, o, q, 20)
					if err != nil || len(hits) == 0 {
						b.Fatalf("search %q = %d hits, %v", q, len(hits), err)
					}
				}
			})
		}
	}
}
