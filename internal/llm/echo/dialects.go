package echo

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/tollgate/tollgate/internal/gateway"
	"github.com/tollgate/tollgate/internal/llm"
)

// storedMax bounds the Responses API objects the echo provider keeps for
// GET /v1/responses/{id} (oldest dropped first).
const storedMax = 1024

// store keeps the echo provider's Responses API objects.
type store struct {
	mu    sync.Mutex
	byID  map[string][]byte
	order []string
}

func (s *store) put(id string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[string][]byte{}
	}
	if len(s.order) >= storedMax {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	s.byID[id] = b
	s.order = append(s.order, id)
}

func (s *store) get(id string, remove bool) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.byID[id]
	if ok && remove {
		delete(s.byID, id)
	}
	return b, ok
}

// contentText reads a message content: a string, or an array of parts whose
// "text" members are joined.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		texts = append(texts, p.Text)
	}
	return strings.Join(texts, " ")
}

// echoed reads a conversation (texts by role, in order): the prompt counts
// the words of every text, the answer is the last user text's words cut to
// limit (-1: none); finish is false when the limit cut it.
func echoed(texts [][2]string, limit int) (prompt int64, words []string, complete bool) {
	last := ""
	for _, t := range texts {
		prompt += int64(len(strings.Fields(t[1])))
		if t[0] == "user" {
			last = t[1]
		}
	}
	words = strings.Fields(last)
	if limit > 0 && len(words) > limit {
		return prompt, words[:limit], false
	}
	return prompt, words, true
}

func spaced(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		out[i] = w
	}
	return out
}

func notStored(id string) *llm.Response {
	b, _ := json.Marshal(gateway.ErrorBody{Error: gateway.ErrorDetail{Type: "invalid_request_error", Code: "not_found",
		Message: "No response with id " + strconvQuote(id) + " is stored."}})
	r := respond("application/json", b)
	r.StatusCode = http.StatusNotFound
	return r
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// limitOf refuses a max token field below 1 (nil: no limit).
func limitOf(v *int, field string) (int, error) {
	if v == nil {
		return -1, nil
	}
	if *v < 1 {
		return 0, gateway.Invalid("invalid_field", "body."+field, field+" must be at least 1")
	}
	return *v, nil
}
