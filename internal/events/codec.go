package events

import "encoding/json"

// wireMessage is a Message as transports carry it: the event in full, or
// only its seq when its data is too large for the transport (PostgreSQL
// NOTIFY payloads end at 8000 bytes); receivers read it from the store.
type wireMessage struct {
	C string          `json:"c"`
	S int64           `json:"s,omitempty"`
	T string          `json:"t,omitempty"`
	D json.RawMessage `json:"d,omitempty"`
	A bool            `json:"a,omitempty"`
	G json.RawMessage `json:"g,omitempty"` // a signal
	O string          `json:"o,omitempty"` // the signal's origin
}

// encode returns m's payload, leaving the data out beyond limit bytes
// (0: no limit).
func encode(m Message, limit int) []byte {
	w := wireMessage{C: m.ConversationID, A: m.Access, G: m.Signal, O: m.Origin}
	if ev := m.Event; ev != nil {
		w.S, w.T, w.D = ev.Seq, ev.Type, ev.Data
	}
	b, _ := json.Marshal(w)
	if limit > 0 && len(b) > limit {
		w.T, w.D = "", nil
		b, _ = json.Marshal(w)
	}
	return b
}

// decode reads a payload; ok is false for one that is not Tollgate's.
func decode(b []byte) (Message, bool) {
	var w wireMessage
	if err := json.Unmarshal(b, &w); err != nil || (w.C == "" && w.G == nil) {
		return Message{}, false
	}
	m := Message{ConversationID: w.C, Access: w.A, Signal: []byte(w.G), Origin: w.O}
	if w.S > 0 {
		m.Event = &Event{ConversationID: w.C, Seq: w.S, Type: w.T}
		if w.D != nil {
			m.Event.Data = []byte(w.D)
		}
	}
	return m, true
}
