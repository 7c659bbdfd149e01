package ratelimit

import "time"

// op is what a GCRA step does with its outcome.
type op uint8

const (
	opAllow  op = iota // record only if it fits
	opPeek             // never record
	opCharge           // always record
)

// gcraStep applies one GCRA decision to a bucket whose stored theoretical
// arrival time is tat (in nanoseconds of the limiter's clock, 0 for a
// missing bucket) at time now. It returns the new stored value (<= now
// means the bucket is full and may be dropped), whether to store it, and the
// Result.
func gcraStep(now, tat int64, l Limit, cost int, o op) (int64, bool, Result) {
	if tat < now {
		tat = now
	}
	tol := int64(l.Tolerance())
	newTAT := tat + int64(satMul(l.Interval(), int64(cost)))
	allowed := newTAT-now <= tol
	store := o == opCharge || (o == opAllow && allowed)
	after := tat
	if store {
		after = newTAT
	}
	var retry int64
	if !allowed {
		retry = newTAT - tol - now
	}
	return after, store, NewResult(l, allowed, time.Duration(after-now), time.Duration(retry))
}
