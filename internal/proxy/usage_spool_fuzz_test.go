package proxy

import (
	"reflect"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// FuzzDecodeUsage: a spooled record (what a new process replays from
// disk, possibly written by an older one or damaged) either decodes or is
// refused with an error, never a panic; what decodes encodes back to the
// same record, its budget settlement included.
func FuzzDecodeUsage(f *testing.F) {
	full := gateway.UsageRecord{ID: "0001", CreatedAt: time.Date(2026, 12, 2, 1, 2, 3, 4000, time.UTC), RequestID: "req", UserID: "u",
		KeyID: "k", EndUserID: "e", Model: "m", ServedModel: "s", Provider: "p", PromptTokens: 1, CompletionTokens: 2,
		Latency: 3 * time.Millisecond, TTFT: time.Millisecond, Cost: 5, Status: gateway.UsageOK, HTTPStatus: 200,
		Settlement: &gateway.BudgetSettlement{ReservationID: "r", Shared: true, Reserved: []gateway.ReservedCharge{
			{BudgetID: "b", PeriodStart: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tokens: 9, Cost: 8}}}}
	f.Add(encodeUsage(full))
	f.Add([]byte(`{"id":"1","at":0,"model":"m","status":"ok"}`))
	f.Add([]byte(`{"id":"1","at":0,"model":"m","status":"ok","settle":{"id":"r","reserved":[]}}`))
	f.Add([]byte(`{"id":"1","at":0,"model":"m","status":"ok","settle":{"id":"r","reserved":[{"budget":""}]}}`))
	f.Add([]byte(`{"id":"1","settle":null}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := decodeUsage(p)
		if err != nil {
			return
		}
		again, err := decodeUsage(encodeUsage(rec))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(rec, again) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", rec, again)
		}
	})
}

// TestSpoolKeepsSettlement: a record's settlement survives the spool
// exactly (the fuzz target's seed, asserted field by field).
func TestSpoolKeepsSettlement(t *testing.T) {
	st := &gateway.BudgetSettlement{ReservationID: "r", Shared: true, Reserved: []gateway.ReservedCharge{
		{BudgetID: "b1", PeriodStart: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Tokens: 9, Cost: 8},
		{BudgetID: "b2", PeriodStart: gateway.TotalPeriodStart, Tokens: 7}}}
	rec, err := decodeUsage(encodeUsage(gateway.UsageRecord{ID: "1", Model: "m", Status: gateway.UsageOK, Settlement: st}))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Settlement == nil || !reflect.DeepEqual(*rec.Settlement, *st) {
		t.Fatalf("settlement = %+v, want %+v", rec.Settlement, st)
	}
	if _, err := decodeUsage([]byte(`{"id":"1","at":0,"model":"m","status":"ok","settle":{"id":"","reserved":[{"budget":"b"}]}}`)); err == nil {
		t.Fatal("a settlement without a reservation id decoded")
	}
}
