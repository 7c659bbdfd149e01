package httpapi

import (
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// FuzzListCursors: every list cursor decoder (conversations, messages,
// usage groups) either refuses a client's cursor with exactly 400
// invalid_field query.cursor, or accepts one that encodes back to a
// cursor decoding to the same position.
func FuzzListCursors(f *testing.F) {
	f.Add(encodeCursor(gateway.Conversation{ID: "conv_1", LastActivityAt: time.Unix(1700000000, 0)}))
	f.Add(encodeMessageCursor("msg_1"))
	f.Add(encodeUsageCursor(""))
	f.Add(encodeUsageCursor("key_1"))
	f.Add("eyJnIjpudWxsfQ")             // {"g":null}
	f.Add("eyJpZCI6ImEiLCJpZCI6ImIifQ") // {"id":"a","id":"b"}
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		refused := func(name string, err error) {
			t.Helper()
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalid || ge.Code != "invalid_field" || ge.Param != "query.cursor" {
				t.Fatalf("%s(%q) error = %v, want 400 invalid_field query.cursor", name, s, err)
			}
		}
		if c, err := decodeCursor(s); err != nil {
			refused("decodeCursor", err)
		} else if again, err := decodeCursor(encodeCursor(gateway.Conversation{ID: c.ID, LastActivityAt: c.LastActivityAt})); err != nil || *again != *c {
			t.Fatalf("conversation cursor %q = %+v does not round-trip: %+v, %v", s, c, again, err)
		}
		if id, err := decodeMessageCursor(s); err != nil {
			refused("decodeMessageCursor", err)
		} else if again, err := decodeMessageCursor(encodeMessageCursor(id)); err != nil || again != id {
			t.Fatalf("message cursor %q = %q does not round-trip: %q, %v", s, id, again, err)
		}
		if g, err := decodeUsageCursor(s); err != nil {
			refused("decodeUsageCursor", err)
		} else if again, err := decodeUsageCursor(encodeUsageCursor(g)); err != nil || again != g {
			t.Fatalf("usage cursor %q = %q does not round-trip: %q, %v", s, g, again, err)
		}
	})
}
