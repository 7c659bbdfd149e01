// Package jsonscan checks an untrusted JSON document before anything else
// reads it: syntax, nesting depth and, optionally, duplicate object keys, in
// one iterative pass whose cost is linear in the input and whose memory does
// not depend on the nesting (no recursion, a fixed-size depth stack).
//
// Every JSON entry point of Tollgate runs its body through Check first, so
// that no recursive parser (encoding/json's decoder, gjson) ever sees a
// document nested deeper than the limit (SPEC 8: 128 levels on /api, 512 on
// /v1).
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/tollgate/tollgate/internal/gateway"
)

// Depth limits of SPEC section 8.
const (
	MaxDepthAPI = 128 // Tollgate's own /api routes
	MaxDepthV1  = 512 // the OpenAI-compatible /v1 routes
)

// MaxKeysAPI bounds the keys of one object in an /api body. No request
// type of the API has more than a dozen fields or a map, so a larger object
// can only be an attack on the duplicate check.
const MaxKeysAPI = 1000

// maxDepthCap bounds any limit a caller asks for, so the depth stack can
// live in a fixed array.
const maxDepthCap = 1024

// Options select what Check enforces beyond syntax.
type Options struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed: `{}`
	// is depth 1. Values above 1024 are treated as 1024; 0 means 1024.
	MaxDepth int
	// UniqueKeys rejects an object holding two keys that encoding/json
	// would match to the same field, i.e. keys equal under its
	// case-insensitive folding ("role" and "ROLE", "model" and "mod\u0065l").
	UniqueKeys bool
	// MaxKeys, with UniqueKeys, refuses an object of more keys (0: no
	// bound). It bounds the duplicate check's memory to MaxDepth × MaxKeys
	// keys whatever the body holds.
	MaxKeys int
	// Members, when set, gets each member of a top-level object as its
	// value ends, so a caller reads the fields it needs in the same pass
	// (a later syntax error still fails Check).
	Members MemberReader
}

// MemberReader receives the members of a top-level object (an interface,
// not a func, so a caller's pointer passes without a closure allocation).
type MemberReader interface {
	Member(m Member)
}

// Member locates one member of the top-level object in the body: its key
// between the quotes (Escaped when the key holds a backslash escape) and
// its raw value.
type Member struct {
	KeyStart, KeyEnd     int
	Escaped              bool
	ValueStart, ValueEnd int
}

// Check validates body as exactly one JSON value (surrounding white space
// allowed), accepting exactly what encoding/json.Valid accepts, within the
// options' depth, and without duplicate keys when opt.UniqueKeys is set.
// It returns a *gateway.Error of kind Invalid, code invalid_json; a
// duplicate key's error names it in Param as "body.<key>".
func Check(body []byte, opt Options) error {
	s := scanner{buf: body, maxDepth: opt.MaxDepth, unique: opt.UniqueKeys, maxKeys: opt.MaxKeys, members: opt.Members}
	if s.maxDepth <= 0 || s.maxDepth > maxDepthCap {
		s.maxDepth = maxDepthCap
	}
	return s.run()
}

// errSyntax is returned for every malformed document: the offset would
// help no client, and one value costs no allocation.
var errSyntax = gateway.Invalid("invalid_json", "", "request body is not valid JSON")

func depthError(limit int) error {
	return gateway.Invalid("invalid_json", "", fmt.Sprintf("request body nests deeper than %d levels", limit))
}

// scanner is the state of one Check: a position, a bit stack of open
// containers (1 = object) and, for UniqueKeys, the keys of open objects.
type scanner struct {
	buf      []byte
	pos      int
	depth    int
	maxDepth int
	stack    [maxDepthCap / 64]uint64

	unique  bool
	maxKeys int
	seed    maphash.Seed
	keys    []keyRef // keys of every open object, innermost last
	starts  []int    // index into keys where each open object's keys begin

	members MemberReader
	member  Member // the top-level member being read
	pending bool   // member's value has not ended yet
}

// keyRef is one object key: its folded hash and where its raw text is.
type keyRef struct {
	hash       uint64
	start, end int // the key's bytes between the quotes
}

func (s *scanner) push(object bool) error {
	if s.depth >= s.maxDepth {
		return depthError(s.maxDepth)
	}
	w, b := s.depth/64, uint(s.depth%64)
	if object {
		s.stack[w] |= 1 << b
		if s.unique {
			s.starts = append(s.starts, len(s.keys))
		}
	} else {
		s.stack[w] &^= 1 << b
	}
	s.depth++
	return nil
}

func (s *scanner) inObject() bool {
	d := s.depth - 1
	return s.stack[d/64]&(1<<uint(d%64)) != 0
}

// run is the whole state machine: after a value, either the container
// continues (',') or closes, until the top-level value is complete.
func (s *scanner) run() error {
	if s.unique {
		s.seed = maphash.MakeSeed()
	}
	for {
		// A value is expected here.
		s.skipSpace()
		if s.pos >= len(s.buf) {
			return errSyntax
		}
		switch c := s.buf[s.pos]; c {
		case '{':
			s.pos++
			if err := s.push(true); err != nil {
				return err
			}
			s.skipSpace()
			if s.pos < len(s.buf) && s.buf[s.pos] == '}' {
				s.pos++
				_ = s.popObject() // no keys: nothing to check
				break
			}
			if err := s.key(); err != nil {
				return err
			}
			continue
		case '[':
			s.pos++
			if err := s.push(false); err != nil {
				return err
			}
			s.skipSpace()
			if s.pos < len(s.buf) && s.buf[s.pos] == ']' {
				s.pos++
				s.depth--
				break
			}
			continue
		case '"':
			if _, err := s.str(); err != nil {
				return err
			}
		case 't':
			if err := s.lit("true"); err != nil {
				return err
			}
		case 'f':
			if err := s.lit("false"); err != nil {
				return err
			}
		case 'n':
			if err := s.lit("null"); err != nil {
				return err
			}
		default:
			if err := s.number(); err != nil {
				return err
			}
		}
		// A value ended: continue or close containers.
		for {
			if s.pending && s.depth == 1 {
				s.member.ValueEnd, s.pending = s.pos, false
				s.members.Member(s.member)
			}
			s.skipSpace()
			if s.depth == 0 {
				if s.pos != len(s.buf) {
					return errSyntax
				}
				return nil
			}
			if s.pos >= len(s.buf) {
				return errSyntax
			}
			c := s.buf[s.pos]
			s.pos++
			if s.inObject() {
				switch c {
				case ',':
					s.skipSpace()
					if err := s.key(); err != nil {
						return err
					}
				case '}':
					if err := s.popObject(); err != nil {
						return err
					}
					continue
				default:
					return errSyntax
				}
			} else {
				switch c {
				case ',':
				case ']':
					s.depth--
					continue
				default:
					return errSyntax
				}
			}
			break
		}
	}
}

// key reads `"name" :` and records the name for the duplicate check.
func (s *scanner) key() error {
	if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
		return errSyntax
	}
	start := s.pos + 1
	escaped, err := s.str()
	if err != nil {
		return err
	}
	end := s.pos - 1
	if s.unique {
		if s.maxKeys > 0 && len(s.keys)-s.starts[len(s.starts)-1] >= s.maxKeys {
			return gateway.Invalid("invalid_json", "", fmt.Sprintf("request body has an object of more than %d keys", s.maxKeys))
		}
		s.keys = append(s.keys, keyRef{hash: s.hashKey(start, end, escaped), start: start, end: end})
	}
	s.skipSpace()
	if s.pos >= len(s.buf) || s.buf[s.pos] != ':' {
		return errSyntax
	}
	s.pos++
	if s.members != nil && s.depth == 1 {
		s.skipSpace()
		s.member = Member{KeyStart: start, KeyEnd: end, Escaped: escaped, ValueStart: s.pos}
		s.pending = true
	}
	return nil
}

// popObject closes the innermost object and, for UniqueKeys, checks its
// keys: sorted by hash, so an object of n keys costs n log n whatever the
// keys are (no hash table to flood).
func (s *scanner) popObject() error {
	s.depth--
	if !s.unique {
		return nil
	}
	from := s.starts[len(s.starts)-1]
	s.starts = s.starts[:len(s.starts)-1]
	keys := s.keys[from:]
	defer func() { s.keys = s.keys[:from] }()
	if len(keys) < 2 {
		return nil
	}
	slices.SortFunc(keys, func(a, b keyRef) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return a.start - b.start
	})
	for i := 1; i < len(keys); i++ {
		for j := i - 1; j >= 0 && keys[j].hash == keys[i].hash; j-- {
			a, b := s.keyName(keys[j]), s.keyName(keys[i])
			if foldEqual(a, b) {
				return gateway.Invalid("invalid_json", "body."+b, fmt.Sprintf("duplicate key %q", b))
			}
		}
	}
	return nil
}

// keyName decodes a key's text (escapes resolved as encoding/json does).
func (s *scanner) keyName(k keyRef) string {
	raw := s.buf[k.start:k.end]
	for _, c := range raw {
		if c == '\\' {
			var name string
			_ = json.Unmarshal(s.buf[k.start-1:k.end+1], &name)
			return name
		}
	}
	return string(raw)
}

// hashKey hashes the folded form (see foldRune) of the key whose text is
// buf[start:end].
func (s *scanner) hashKey(start, end int, escaped bool) uint64 {
	raw := s.buf[start:end]
	if escaped {
		raw = []byte(s.keyName(keyRef{start: start, end: end}))
	}
	var h maphash.Hash
	h.SetSeed(s.seed)
	for i := 0; i < len(raw); {
		if c := raw[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			_ = h.WriteByte(c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(raw[i:])
		var b [utf8.UTFMax]byte
		_, _ = h.Write(b[:utf8.EncodeRune(b[:], foldRune(r))])
		i += n
	}
	return h.Sum64()
}

// foldRune is encoding/json's folding of a field name's rune: two keys
// whose runes fold alike are matched to the same struct field.
func foldRune(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }

func foldEqual(a, b string) bool {
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if foldRune(ra[i]) != foldRune(rb[i]) {
			return false
		}
	}
	return true
}

func (s *scanner) skipSpace() {
	buf, pos := s.buf, s.pos
	for pos < len(buf) && (buf[pos] == ' ' || buf[pos] == '\n' || buf[pos] == '\t' || buf[pos] == '\r') {
		pos++
	}
	s.pos = pos
}

func (s *scanner) lit(word string) error {
	if len(s.buf)-s.pos < len(word) || string(s.buf[s.pos:s.pos+len(word)]) != word {
		return errSyntax
	}
	s.pos += len(word)
	return nil
}

// str reads a string starting at the opening quote and reports whether it
// held an escape. Control characters below 0x20 are refused; other bytes
// (invalid UTF-8 included) are accepted, as encoding/json.Valid does.
func (s *scanner) str() (escaped bool, err error) {
	buf, pos := s.buf, s.pos+1 // after the opening quote
	quote := -1                // the first '"' at or after pos, once searched for
	for {
		// Runs of plain bytes: up to 32 eight at a time (most strings
		// are short), then the rest of a long run with vectorised
		// searches (longRun).
		n := 0
		for n < 4 && pos+8 <= len(buf) && !special8(binary.LittleEndian.Uint64(buf[pos:])) {
			pos += 8
			n++
		}
		if n == 4 {
			if pos, quote = longRun(buf, pos, quote); quote < 0 {
				return false, errSyntax
			}
		}
		for pos < len(buf) && plain[buf[pos]] {
			pos++
		}
		if pos >= len(buf) {
			return false, errSyntax
		}
		switch c := buf[pos]; {
		case c == '"':
			s.pos = pos + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if pos+1 >= len(buf) {
				return false, errSyntax
			}
			switch buf[pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				pos += 2
			case 'u':
				if len(buf)-pos < 6 || !isHex(buf[pos+2]) || !isHex(buf[pos+3]) || !isHex(buf[pos+4]) || !isHex(buf[pos+5]) {
					return false, errSyntax
				}
				pos += 6
			default:
				return false, errSyntax
			}
		default: // a control character
			return false, errSyntax
		}
	}
}

// longRun returns the end of the run of plain bytes at pos (the first
// '"', '\\' or control character) in a string, and the first '"' at or
// after pos (-1: none, the string never ends). quote is that of the last
// call, kept so that a string of many escapes is searched once for its
// end, not once per escape.
func longRun(buf []byte, pos, quote int) (end, nextQuote int) {
	if quote < pos {
		if quote = bytes.IndexByte(buf[pos:], '"'); quote < 0 {
			return pos, -1
		}
		quote += pos
	}
	end = quote
	if i := bytes.IndexByte(buf[pos:end], '\\'); i >= 0 {
		end = pos + i
	}
	if i := controlIndex(buf[pos:end]); i >= 0 {
		end = pos + i
	}
	return end, quote
}

// controlIndex is the index of the first byte below 0x20 in b, or -1:
// 32 bytes at a time, a word is tested as special8 does.
func controlIndex(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := func(x uint64) uint64 { return (x - ones*0x20) & ^x & highs }
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w := b[i : i+32]
		if ctl(binary.LittleEndian.Uint64(w))|ctl(binary.LittleEndian.Uint64(w[8:]))|
			ctl(binary.LittleEndian.Uint64(w[16:]))|ctl(binary.LittleEndian.Uint64(w[24:])) != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return i
		}
	}
	return -1
}

// special8 reports whether any of the eight bytes in x is '"', '\\' or a
// control character below 0x20 (the word-at-a-time tests of "Bit
// Twiddling Hacks": a byte is zero after XOR with the wanted value, or
// below 0x20; bytes of 0x80 and above never match).
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return (zero(x^(ones*'"')) | zero(x^(ones*'\\')) | ((x - ones*0x20) & ^x & highs)) != 0
}

// plain marks the bytes a string holds without ending or escaping: all but
// '"', '\\' and the control characters below 0x20.
var plain = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = i != '"' && i != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *scanner) digits() int {
	buf, pos := s.buf, s.pos
	for pos < len(buf) && buf[pos] >= '0' && buf[pos] <= '9' {
		pos++
	}
	n := pos - s.pos
	s.pos = pos
	return n
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	if s.pos < len(s.buf) && s.buf[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(s.buf) {
		return errSyntax
	}
	switch c := s.buf[s.pos]; {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return errSyntax
	}
	if s.pos < len(s.buf) && s.buf[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return errSyntax
		}
	}
	if s.pos < len(s.buf) && (s.buf[s.pos] == 'e' || s.buf[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.buf) && (s.buf[s.pos] == '+' || s.buf[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return errSyntax
		}
	}
	return nil
}
