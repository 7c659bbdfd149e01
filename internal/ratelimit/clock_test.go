package ratelimit

import (
	"github.com/tollgate/tollgate/internal/testsvc"
	"time"
)

func newFakeClock() *testsvc.Clock {
	return testsvc.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}
