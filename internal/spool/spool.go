// Package spool is an append-only local log of opaque records, kept in
// numbered segment files in one directory. The usage writer uses it as its
// write-ahead log: a record is appended (one write system call, so it
// survives the process being killed) before it is queued in memory, and a
// segment is removed once every record in it is in the database.
//
// A segment file is a sequence of frames: a 4-byte little-endian payload
// length, the 4-byte little-endian CRC-32C of the payload, then the
// payload. A reader stops at the first frame that is cut short or fails
// its checksum (a torn tail after a crash) and returns what came before.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MaxRecord is the largest payload Append accepts and a reader believes.
const MaxRecord = 1 << 20

// headerSize is the length and checksum in front of every payload.
const headerSize = 8

const suffix = ".seg"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge is returned by Append for a payload over MaxRecord.
var ErrTooLarge = errors.New("spool: record too large")

// Spool appends to the newest segment of a directory. Its methods are safe
// for concurrent use.
type Spool struct {
	dir string
	mu  sync.Mutex
	seq uint64   // the current segment's number
	f   *os.File // the current segment; nil until its first Append
	n   int      // records in the current segment
}

// Open creates dir if needed and returns a spool that appends to a new
// segment numbered after every existing one, and the numbers of the
// existing segments (oldest first), which hold records of an earlier run.
func Open(dir string) (*Spool, []uint64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("open spool: %w", err)
	}
	old, err := list(dir)
	if err != nil {
		return nil, nil, err
	}
	s := &Spool{dir: dir, seq: 1}
	if len(old) > 0 {
		s.seq = old[len(old)-1] + 1
	}
	return s, old, nil
}

// list returns the segment numbers in dir, ascending.
func list(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list spool: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || e.IsDir() {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Path is the file of segment seq.
func (s *Spool) Path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, suffix))
}

// Append writes payload as one frame to the current segment with a single
// write and returns the segment's number. A failed or short write (a full
// disk) is truncated away so the segment stays readable.
func (s *Spool) Append(payload []byte) (uint64, error) {
	if len(payload) > MaxRecord {
		return 0, ErrTooLarge
	}
	frame := make([]byte, headerSize+len(payload))
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	copy(frame[headerSize:], payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := os.OpenFile(s.Path(s.seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return 0, fmt.Errorf("spool append: %w", err)
		}
		s.f = f
	}
	before, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("spool append: %w", err)
	}
	if _, err := s.f.Write(frame); err != nil {
		_ = s.f.Truncate(before)
		return 0, fmt.Errorf("spool append: %w", err)
	}
	s.n++
	return s.seq, nil
}

// Current is the number of the segment Append writes to and how many
// records it holds.
func (s *Spool) Current() (seq uint64, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, s.n
}

// Sync flushes the current segment to stable storage.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool sync: %w", err)
	}
	return nil
}

// Rotate syncs and closes the current segment and starts the next one. It
// returns the closed segment's number and how many records it holds.
func (s *Spool) Rotate() (seq uint64, records int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, records = s.seq, s.n
	if s.f != nil {
		err = s.f.Sync()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	s.seq++
	s.n = 0
	if err != nil {
		return seq, records, fmt.Errorf("spool rotate: %w", err)
	}
	return seq, records, nil
}

// Remove deletes segment seq (which must not be the current one).
func (s *Spool) Remove(seq uint64) error {
	err := os.Remove(s.Path(seq))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool remove: %w", err)
	}
	return nil
}

// Close syncs and closes the current segment; an empty one leaves no file.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	return err
}

// ReadSegment returns the payloads of segment seq up to the first torn or
// corrupt frame; torn says whether one was found. A missing segment has
// no records.
func (s *Spool) ReadSegment(seq uint64) (payloads [][]byte, torn bool, err error) {
	data, err := os.ReadFile(s.Path(seq))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("spool read: %w", err)
	}
	payloads, used := Decode(data)
	return payloads, used != len(data), nil
}

// Decode splits data into frames and returns their payloads and how many
// bytes of data they use. It stops at the first frame that is cut short,
// longer than MaxRecord or fails its checksum.
func Decode(data []byte) (payloads [][]byte, used int) {
	for len(data)-used >= headerSize {
		n := binary.LittleEndian.Uint32(data[used : used+4])
		sum := binary.LittleEndian.Uint32(data[used+4 : used+8])
		if n > MaxRecord || uint64(len(data)-used-headerSize) < uint64(n) {
			break
		}
		p := data[used+headerSize : used+headerSize+int(n)]
		if crc32.Checksum(p, castagnoli) != sum {
			break
		}
		payloads = append(payloads, p)
		used += headerSize + int(n)
	}
	return payloads, used
}
