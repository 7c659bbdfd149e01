package ratelimit

import (
	"time"

	"github.com/tollgate/tollgate/internal/testsvc"
)

func newFakeClock() *testsvc.Clock {
	return testsvc.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}
