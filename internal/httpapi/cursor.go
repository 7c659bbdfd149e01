package httpapi

import (
	"encoding/base64"
	"encoding/json"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/jsonscan"
)

// List cursors (conversations, messages, usage groups) are base64url (no
// padding) of a small flat JSON object. They come back from the client,
// so decoding scans them like every body (flat, no repeated key) before
// encoding/json reads them, and any failure is the same 400.

// errBadCursor is the answer to a cursor this server did not issue.
var errBadCursor = gateway.Invalid("invalid_field", "query.cursor", "cursor is not a next_cursor of this list")

func encodeListCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeListCursor reads s into v, or returns errBadCursor; the caller
// checks the fields it requires.
func decodeListCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errBadCursor
	}
	if jsonscan.Check(b, jsonscan.Options{MaxDepth: 1, UniqueKeys: true}) != nil || json.Unmarshal(b, v) != nil {
		return errBadCursor
	}
	return nil
}
