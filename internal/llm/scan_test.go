package llm_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/llm"
)

func scanAll(r io.Reader) ([]llm.Event, error) {
	var got []llm.Event
	for ev, err := range llm.ScanEvents(r) {
		if err != nil {
			return got, err
		}
		got = append(got, ev)
	}
	return got, nil
}

func raws(events []llm.Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.Raw
	}
	return out
}

func withoutRaw(events []llm.Event) []llm.Event {
	out := append([]llm.Event(nil), events...)
	for i := range out {
		out[i].Raw = ""
	}
	return out
}

func TestScanEventsRaw(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	tests := []struct {
		name  string
		input string
		want  []llm.Event
	}{
		{"KeyOrderAndSpacingKept", "data: {\"z\":1, \"a\" : [2]}\n\ndata: [DONE]\n\n",
			[]llm.Event{{Data: `{"z":1, "a" : [2]}`, Raw: "data: {\"z\":1, \"a\" : [2]}\n\n"}, {Data: "[DONE]", Raw: "data: [DONE]\n\n"}}},
		{"IDAndEventLinesKept", "id: 7\nevent: delta\ndata: x\n\n",
			[]llm.Event{{ID: "7", Type: "delta", Data: "x", Raw: "id: 7\nevent: delta\ndata: x\n\n"}}},
		{"CommentInsideEventKept", "data: x\n: inside\n\n", []llm.Event{{Data: "x", Raw: "data: x\n: inside\n\n"}}},
		{"KeepAliveBlockDropped", ": ping\n\ndata: x\n\n", []llm.Event{{Data: "x", Raw: "data: x\n\n"}}},
		{"CRLFKept", "data: a\r\ndata: b\r\n\r\n", []llm.Event{{Data: "a\nb", Raw: "data: a\r\ndata: b\r\n\r\n"}}},
		{"IDCarriesOver", "id: 1\ndata: a\n\ndata: b\n\n", []llm.Event{{ID: "1", Data: "a", Raw: "id: 1\ndata: a\n\n"}, {ID: "1", Data: "b", Raw: "data: b\n\n"}}},
		{"LongLine", "data:" + long + "\n\n", []llm.Event{{Data: long, Raw: "data:" + long + "\n\n"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = iotest.OneByteReader(strings.NewReader(tc.input))
			if len(tc.input) > 4096 {
				r = iotest.HalfReader(strings.NewReader(tc.input))
			}
			got, err := scanAll(r)
			if err != nil {
				t.Fatalf("ScanEvents error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("events mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScanEventsMatchesReadEvents runs ReadEvents' table through
// ScanEvents: the same events, whatever the read boundaries.
func TestScanEventsMatchesReadEvents(t *testing.T) {
	for _, in := range []string{
		"data: {\"a\":1}\n\ndata: [DONE]\n\n",
		"data: {\"a\":\ndata: 1}\n\n",
		"data: one\r\n\r\ndata: two\r\ndata: three\r\n\r\n",
		"data: one\r\rdata: two\r\r",
		": keep-alive\n\ndata: x\n: inside\n\n:\n\n",
		"data:x\n\n",
		"event: error\ndata: {}\n\n",
		"data: a\n\ndata: b",
		"\ufeffdata: a\n\n",
		"retry: 10\nfoo: bar\ndata: a\n\n",
		"event: x\ndata\n\n",
		"id: 1\x00\ndata: a\n\nid: 2\ndata: b\n\n",
	} {
		want, werr := collect(t, strings.NewReader(in))
		got, gerr := scanAll(iotest.OneByteReader(strings.NewReader(in)))
		if werr != nil || gerr != nil {
			t.Fatalf("%q: errors %v, %v", in, werr, gerr)
		}
		if diff := cmp.Diff(want, withoutRaw(got)); diff != "" {
			t.Errorf("%q: mismatch (-ReadEvents +ScanEvents):\n%s", in, diff)
		}
	}
}

func TestScanEventsReadErrorIsYielded(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	got, err := scanAll(r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]string{"data: a\n\n"}, raws(got)); diff != "" {
		t.Fatalf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestScanEventsTooLarge(t *testing.T) {
	r := io.MultiReader(strings.NewReader("data: "), strings.NewReader(strings.Repeat("x", llm.MaxEventSize+1)))
	if _, err := scanAll(r); !errors.Is(err, llm.ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
}

// FuzzScanEvents checks ScanEvents against ReadEvents (tmaxmax/go-sse):
// the same events, and each event's Raw is exactly the input's bytes for
// it, so forwarding Raw forwards the upstream unchanged.
func FuzzScanEvents(f *testing.F) {
	f.Add("data: a\n\n")
	f.Add("data: a\r\ndata: b\r\n\r\n: c\n\n")
	f.Add("event: x\ndata\n\n")
	f.Add("id: 3\n\n\ufeffdata: {\"b\":1,\"a\":2}\r\r")
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > fuzzMaxInput {
			return
		}
		want, werr := collect(t, strings.NewReader(in))
		got, gerr := scanAll(iotest.HalfReader(strings.NewReader(in)))
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("errors differ: ReadEvents %v, ScanEvents %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if diff := cmp.Diff(want, withoutRaw(got)); diff != "" {
			t.Fatalf("mismatch (-ReadEvents +ScanEvents):\n%s", diff)
		}
		// Each Raw is the next piece of the input (dropped blocks between).
		rest := in
		for _, ev := range got {
			i := strings.Index(rest, ev.Raw)
			if i < 0 {
				t.Fatalf("Raw %q is not in the input after the previous event", ev.Raw)
			}
			rest = rest[i+len(ev.Raw):]
			again, err := scanAll(strings.NewReader(ev.Raw))
			if err != nil || len(again) != 1 || again[0].Data != ev.Data || again[0].Type != ev.Type {
				t.Fatalf("Raw %q re-scans to %+v, %v; want one event with data %q", ev.Raw, again, err, ev.Data)
			}
		}
	})
}
