package llm

import (
	"io"
	"iter"
	"strings"

	sse "github.com/tmaxmax/go-sse"
)

// MaxEventSize bounds one upstream SSE event. Lines far longer than
// bufio.Scanner's 64 KiB default (a long tool call, a base64 image) are
// normal in LLM streams.
const MaxEventSize = 16 << 20

// Done is the data of the event that ends an OpenAI stream.
const Done = "[DONE]"

// Event is one server-sent event. Data holds the event's data lines joined
// by "\n"; Type is the event field, usually empty.
type Event struct {
	Type string
	Data string
	// ID is the stream's last event id so far (the SSE "id:" field; it
	// carries over to events without one).
	ID string
	// Raw is the event exactly as the upstream sent it (ScanEvents sets
	// it; ReadEvents leaves it empty). A sink that forwards Raw forwards
	// the upstream's bytes unchanged.
	Raw string
}

// ReadEvents parses an SSE stream with tmaxmax/go-sse and yields its
// events as they complete: multi-line data, CR, LF and CRLF line ends,
// comments (skipped), a BOM and events up to MaxEventSize are handled. A
// clean end of input ends the sequence without an error, and an incomplete
// last event is dropped; a read error is yielded once, last.
func ReadEvents(r io.Reader) iter.Seq2[Event, error] {
	events := sse.Read(r, &sse.ReadConfig{MaxEventSize: MaxEventSize})
	return func(yield func(Event, error) bool) {
		for ev, err := range events {
			if !yield(Event{Type: ev.Type, Data: ev.Data, ID: ev.LastEventID}, err) {
				return
			}
		}
	}
}

// AppendEvent appends the SSE encoding of an event to dst: an optional
// "event:" line, one "data:" line per line of data, and a blank line.
func AppendEvent(dst []byte, typ, data string) []byte {
	if typ != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, typ...)
		dst = append(dst, '\n')
	}
	for {
		line, rest, more := strings.Cut(data, "\n")
		dst = append(dst, "data: "...)
		dst = append(dst, line...)
		dst = append(dst, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(dst, '\n')
}
