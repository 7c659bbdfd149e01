package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate/tollgate/internal/gateway"
)

// denyLog logs every 401 and 403 decision at Warn level, at most burst
// lines at once and perSecond lines per second on average per process (a
// token bucket), so a flood of bad credentials cannot fill the disk. Lines
// dropped meanwhile are counted, and the next line written carries the
// count as "suppressed". A line never holds a credential: only the request
// id, the route pattern, the method, the client IP, status and code, and
// for a 403 the principal's user id, key prefix, static token name and
// end user.
type denyLog struct {
	log      *slog.Logger
	now      func() time.Time
	clientIP func(*http.Request) string
	rate     float64 // lines per second
	burst    float64

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int64
}

func newDenyLog(log *slog.Logger, perSecond int, now func() time.Time, clientIP func(*http.Request) string) *denyLog {
	if perSecond <= 0 {
		perSecond = 10
	}
	if now == nil {
		now = time.Now
	}
	if clientIP == nil {
		clientIP = peerIP
	}
	return &denyLog{log: log, now: now, clientIP: clientIP, rate: float64(perSecond), burst: float64(perSecond),
		tokens: float64(perSecond)}
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// take reports whether a line may be written now and how many were
// suppressed since the last one written.
func (l *denyLog) take() (bool, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	return true, n
}

// denied logs err if it is a 401 or 403 answer to r on route (the
// pattern); p is the principal when one was resolved.
func (l *denyLog) denied(r *http.Request, route string, p *gateway.Principal, err error) {
	ge, ok := gateway.AsError(err)
	if !ok || (ge.Kind != gateway.KindUnauthenticated && ge.Kind != gateway.KindPermission) {
		return
	}
	write, suppressed := l.take()
	if !write {
		return
	}
	status := http.StatusUnauthorized
	if ge.Kind == gateway.KindPermission {
		status = http.StatusForbidden
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs, slog.String("request_id", RequestID(r.Context())), slog.String("route", route),
		slog.String("method", r.Method), slog.String("client_ip", l.clientIP(r)),
		slog.Int("status", status), slog.String("code", ge.Code))
	if p != nil {
		if p.UserID != "" {
			attrs = append(attrs, slog.String("user_id", p.UserID))
		}
		if p.KeyPrefix != "" {
			attrs = append(attrs, slog.String("key_prefix", p.KeyPrefix))
		}
		if p.StaticName != "" {
			attrs = append(attrs, slog.String("static_token", p.StaticName))
		}
		if p.EndUserID != "" {
			attrs = append(attrs, slog.String("end_user_id", p.EndUserID))
		}
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int64("suppressed", suppressed))
	}
	l.log.LogAttrs(r.Context(), slog.LevelWarn, "request denied", attrs...)
}
