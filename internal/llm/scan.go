package llm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
)

// ErrEventTooLarge is yielded by ScanEvents for an event over MaxEventSize.
var ErrEventTooLarge = fmt.Errorf("sse: event larger than %d bytes", MaxEventSize)

// ScanEvents reads an SSE stream like ReadEvents and also sets each event's
// Raw: the exact bytes the upstream sent for it, from its first line through
// the blank line that ends it (comments, id and retry lines, line endings
// and the JSON's key order and spacing included), so a proxy can forward
// the event by writing Raw and never re-encode it. Data and Type are
// substrings of Raw when the event has one data line (the usual case), so
// an event costs one allocation.
//
// Events are dispatched as ReadEvents (go-sse) does: a block of lines with
// a data, event or (valid) id field is an event; one of comments and
// unknown fields only (a keep-alive) is dropped, as is an incomplete last
// event at EOF. A BOM at the start of the first non-blank block is skipped
// (blank lines before it do not count, as in go-sse). A read error is
// yielded once, last; an event over MaxEventSize yields ErrEventTooLarge.
func ScanEvents(r io.Reader) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		s := scanner{r: r, buf: make([]byte, 0, 4<<10)}
		for {
			ev, err := s.next()
			if err == io.EOF {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// scanner holds the unread input in buf[pos:]; an event in progress starts
// at buf[pos], and blk is how far its lines were read (so a long event that
// arrives in many reads is scanned once, not once per read).
type scanner struct {
	r      io.Reader
	buf    []byte
	pos    int
	eof    bool
	bomOK  bool // a BOM can no longer be skipped (one was, or a line was read)
	lastID string
	blk    block
}

// block is the part of an event read so far; offsets are relative to the
// event's start.
type block struct {
	n         int    // bytes of whole lines read
	data      [2]int // the first data line's value
	dataLines int
	typ, id   [2]int
	hasTyp    bool
	hasID     bool
}

// dispatch reports whether the block is an event (go-sse's rule).
func (b *block) dispatch() bool { return b.dataLines > 0 || b.hasTyp || b.hasID }

// next returns the next event, or io.EOF at a clean end of input.
func (s *scanner) next() (Event, error) {
	for {
		if ev, ok := s.parse(); ok {
			return ev, nil
		}
		if s.eof {
			return Event{}, io.EOF
		}
		if err := s.fill(); err != nil {
			return Event{}, err
		}
	}
}

// fill reads more input after buf, moving the event in progress to the
// front or growing buf when it is full.
func (s *scanner) fill() error {
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:])
		s.buf, s.pos = s.buf[:n], 0
	}
	if len(s.buf) > MaxEventSize {
		return ErrEventTooLarge
	}
	if len(s.buf) == cap(s.buf) {
		s.buf = append(s.buf, 0)[:len(s.buf)]
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if errors.Is(err, io.EOF) {
		s.eof = true
		return nil
	}
	return err
}

// parse looks for one complete event in buf[pos:]. ok is false when more
// input is needed. Blocks without a data field are consumed and skipped.
func (s *scanner) parse() (ev Event, ok bool) {
	for {
		if !s.bomOK && s.blk.n == 0 {
			// A BOM is skipped at the start of the first block that has
			// a line (blank lines before it do not count: go-sse's rule).
			const bom = "\ufeff"
			rest := s.buf[s.pos:]
			if len(rest) < len(bom) && !s.eof && strings.HasPrefix(bom, string(rest)) {
				return Event{}, false
			}
			if bytes.HasPrefix(rest, []byte(bom)) {
				s.pos += len(bom)
				s.bomOK = true
			}
		}
		in, b := s.buf[s.pos:], &s.blk
		for {
			line, next, complete := cutLine(in[b.n:], s.eof)
			if !complete {
				return Event{}, false
			}
			if len(line) == 0 {
				b.n += next
				break
			}
			s.bomOK = true
			field, value, start := splitField(line)
			span := [2]int{b.n + start, b.n + start + len(value)}
			switch string(field) {
			case "data":
				if b.dataLines == 0 {
					b.data = span
				}
				b.dataLines++
			case "event":
				b.typ, b.hasTyp = span, true
			case "id":
				if bytes.IndexByte(value, 0) < 0 {
					b.id, b.hasID = span, true
				}
			}
			b.n += next
		}
		blk := *b
		s.blk, s.pos = block{}, s.pos+blk.n
		if !blk.dispatch() {
			continue
		}
		raw := string(in[:blk.n])
		ev = Event{Raw: raw}
		switch blk.dataLines {
		case 0:
		case 1:
			ev.Data = raw[blk.data[0]:blk.data[1]]
		default:
			ev.Data = joinData(raw)
		}
		if blk.hasTyp {
			ev.Type = raw[blk.typ[0]:blk.typ[1]]
		}
		if blk.hasID {
			s.lastID = raw[blk.id[0]:blk.id[1]]
		}
		ev.ID = s.lastID
		return ev, true
	}
}

// cutLine returns the first line of b without its end (LF, CRLF or CR),
// and the offset after the end. complete is false when b holds no whole
// line yet (a CR at the end of b might still be followed by LF, unless
// the input has ended).
func cutLine(b []byte, eof bool) (line []byte, next int, complete bool) {
	i := bytes.IndexAny(b, "\r\n")
	switch {
	case i < 0:
		return nil, 0, false
	case b[i] == '\n':
		return b[:i], i + 1, true
	case i+1 < len(b):
		if b[i+1] == '\n' {
			return b[:i], i + 2, true
		}
		return b[:i], i + 1, true
	default: // a CR at the end of b
		return b[:i], i + 1, eof
	}
}

// splitField splits an SSE line into field name and value (one space after
// the colon removed); start is the value's offset in line.
func splitField(line []byte) (field, value []byte, start int) {
	colon := bytes.IndexByte(line, ':')
	switch {
	case colon == 0:
		return nil, nil, 0 // a comment
	case colon < 0:
		return line, nil, len(line)
	}
	start = colon + 1
	if start < len(line) && line[start] == ' ' {
		start++
	}
	return line[:colon], line[start:], start
}

// joinData joins the values of an event's data lines with "\n".
func joinData(raw string) string {
	var b strings.Builder
	n := 0
	for rest := []byte(raw); len(rest) > 0; {
		line, next, _ := cutLine(rest, true)
		rest = rest[next:]
		if field, value, _ := splitField(line); string(field) == "data" {
			if n > 0 {
				b.WriteByte('\n')
			}
			b.Write(value)
			n++
		}
	}
	return b.String()
}
