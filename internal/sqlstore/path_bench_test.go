package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/sqlstore"
	"github.com/tollgate/tollgate/internal/sqlstore/sqltest"
)

// BenchmarkStartExchangeLongConversation: posting a reply to a short
// branch of a conversation holding n other messages. The ancestor path is
// one recursive query, so the cost stays flat in n (compare the n=100 and
// n=4000 lines of one run).
func BenchmarkStartExchangeLongConversation(b *testing.B) {
	for _, engine := range []string{"SQLite", "Postgres"} {
		for _, n := range []int{100, 4000} {
			b.Run(fmt.Sprintf("%s/messages=%d", engine, n), func(b *testing.B) {
				var st *sqlstore.Store
				if engine == "SQLite" {
					st = sqltest.SQLite(b)
				} else {
					st = sqltest.Postgres(b)
				}
				ctx := context.Background()
				o := gateway.Owner{UserID: "alice"}
				c, err := st.CreateConversation(ctx, o, gateway.Conversation{})
				if err != nil {
					b.Fatal(err)
				}
				root, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, Content: "root"})
				if err != nil {
					b.Fatal(err)
				}
				// n/2 exchanges, each a branch off the root.
				for range n / 2 {
					if _, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, ParentID: root.User.ID, Content: "branch"}); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for b.Loop() {
					x, err := st.StartExchange(ctx, o, gateway.NewExchange{ConversationID: c.ID, ParentID: root.User.ID, Content: "q"})
					if err != nil || len(x.Path) != 2 {
						b.Fatalf("path %d, %v", len(x.Path), err)
					}
				}
			})
		}
	}
}
