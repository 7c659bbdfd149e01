// Package redis holds Tollgate's Redis-backed pieces: a GCRA Limiter whose
// buckets every instance shares, and a Fallback that keeps deciding on
// local buckets while Redis is unreachable.
package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/ratelimit"
)

// NewClient connects to a redis:// or rediss:// URL with settings for the
// request path: short timeouts that honour the context, one retry, so a
// dead Redis costs a decision milliseconds rather than seconds. The URL may
// override them.
func NewClient(url string) (*goredis.Client, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	opt.ContextTimeoutEnabled = true
	if opt.DialTimeout == 0 {
		opt.DialTimeout = time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 500 * time.Millisecond
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = 500 * time.Millisecond
	}
	if opt.MaxRetries == 0 {
		opt.MaxRetries = 1
	}
	if opt.DialerRetries == 0 {
		opt.DialerRetries = 1
	}
	return goredis.NewClient(opt), nil
}

// gcraScript is one atomic GCRA step, the Redis twin of the in-memory
// limiter. Times are microseconds of the Redis server's clock (TIME), so
// every instance shares one clock; a key holds the bucket's theoretical
// arrival time and expires when the bucket is full again.
//
// KEYS[1] bucket; ARGV: emission interval µs, tolerance µs, cost, mode
// (0 allow, 1 peek, 2 charge). Returns {allowed, remaining, µs until full,
// µs until the cost would fit}.
var gcraScript = goredis.NewScript(`
local e = tonumber(ARGV[1])
local tol = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local mode = tonumber(ARGV[4])
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or "0")
if tat < now then tat = now end
local new = tat + cost * e
local allowed = (new - now) <= tol
local after = tat
if mode == 2 or (mode == 0 and allowed) then
  after = new
  if new > now then
    redis.call("SET", KEYS[1], string.format("%.0f", new), "PX", math.ceil((new - now) / 1000))
  else
    redis.call("DEL", KEYS[1])
  end
end
local fill = after - now
if fill < 0 then fill = 0 end
local remaining = math.floor((tol - fill) / e)
if remaining < 0 then remaining = 0 end
local retry = 0
if not allowed then retry = new - tol - now end
return {allowed and 1 or 0, remaining, fill, retry}
`)

const (
	modeAllow  = 0
	modePeek   = 1
	modeCharge = 2
)

// Limiter is a ratelimit.Limiter on Redis: N instances that share one
// Redis and one Prefix together admit exactly the shared limit.
type Limiter struct {
	rdb    goredis.Scripter
	prefix string
}

// NewLimiter returns a Limiter whose keys start with prefix (e.g.
// "tollgate:rl:").
func NewLimiter(rdb goredis.Scripter, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix}
}

// Allow implements ratelimit.Limiter.
func (l *Limiter) Allow(ctx context.Context, key string, lim ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return l.run(ctx, key, lim, cost, modeAllow)
}

// Peek implements ratelimit.Limiter.
func (l *Limiter) Peek(ctx context.Context, key string, lim ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return l.run(ctx, key, lim, cost, modePeek)
}

// Charge implements ratelimit.Limiter.
func (l *Limiter) Charge(ctx context.Context, key string, lim ratelimit.Limit, cost int) (ratelimit.Result, error) {
	return l.run(ctx, key, lim, cost, modeCharge)
}

func (l *Limiter) run(ctx context.Context, key string, lim ratelimit.Limit, cost, mode int) (ratelimit.Result, error) {
	if !lim.Valid() {
		return ratelimit.Result{}, fmt.Errorf("rate limit %q: invalid limit %+v", key, lim)
	}
	e := max(1, lim.Interval().Microseconds())
	tol := e * int64(lim.Burst)
	v, err := gcraScript.Run(ctx, l.rdb, []string{l.prefix + key}, e, tol, cost, mode).Int64Slice()
	if err != nil {
		return ratelimit.Result{}, fmt.Errorf("redis rate limit: %w", err)
	}
	if len(v) != 4 {
		return ratelimit.Result{}, errors.New("redis rate limit: unexpected script reply")
	}
	return ratelimit.Result{
		Limit:      lim,
		Allowed:    v[0] == 1,
		Remaining:  int(min(v[1], int64(lim.Burst))),
		ResetAfter: time.Duration(v[2]) * time.Microsecond,
		RetryAfter: time.Duration(v[3]) * time.Microsecond,
	}, nil
}

// gcraLua defines gcraDecide(keys, argv, now), gcraScript over all of a
// request's buckets at once: each bucket is evaluated in order at cost 1
// against one reading of the clock, stopping at the first refusal. It
// returns four numbers per evaluated bucket (as gcraScript), the writes
// that admitting would make, and whether all admitted; gcraCommit(writes,
// now) makes them. argv per bucket: emission interval µs, tolerance µs,
// peek (1) or allow (0).
const gcraLua = `
local function gcraDecide(keys, argv, now)
  local out, writes = {}, {}
  for i = 1, #keys do
    local e, tol, peek = tonumber(argv[3*i-2]), tonumber(argv[3*i-1]), argv[3*i] == "1"
    local tat = tonumber(redis.call("GET", keys[i]) or "0")
    if tat < now then tat = now end
    local new = tat + e
    local allowed = (new - now) <= tol
    local after = tat
    if allowed and not peek then
      after = new
      writes[#writes+1] = {keys[i], new}
    end
    local fill = after - now
    if fill < 0 then fill = 0 end
    local remaining = math.floor((tol - fill) / e)
    if remaining < 0 then remaining = 0 end
    local retry = 0
    if not allowed then retry = new - tol - now end
    out[#out+1] = allowed and 1 or 0
    out[#out+1] = remaining
    out[#out+1] = fill
    out[#out+1] = retry
    if not allowed then return out, writes, false end
  end
  return out, writes, true
end
local function gcraCommit(writes, now)
  for _, w in ipairs(writes) do
    redis.call("SET", w[1], string.format("%.0f", w[2]), "PX", math.ceil((w[2] - now) / 1000))
  end
end
local function redisNow()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
`

// decideScript decides all of a request's buckets (gcraDecide) and, when
// all admit, records every bucket that is not a peek; at a refusal it
// writes nothing. KEYS: the buckets; ARGV as gcraDecide's argv. Returns
// gcraDecide's numbers.
var decideScript = goredis.NewScript(gcraLua + `
local now = redisNow()
local out, writes, ok = gcraDecide(KEYS, ARGV, now)
if ok then gcraCommit(writes, now) end
return out
`)

// decideArgs are the keys and arguments of gcraDecide for calls.
func (l *Limiter) decideArgs(calls []ratelimit.Call) ([]string, []any, error) {
	keys := make([]string, len(calls))
	args := make([]any, 0, 3*len(calls))
	for i, c := range calls {
		if !c.Limit.Valid() {
			return nil, nil, fmt.Errorf("rate limit %q: invalid limit %+v", c.Key, c.Limit)
		}
		e := max(1, c.Limit.Interval().Microseconds())
		peek := 0
		if c.Peek {
			peek = 1
		}
		keys[i] = l.prefix + c.Key
		args = append(args, e, e*int64(c.Limit.Burst), peek)
	}
	return keys, args, nil
}

// decideResults reads gcraDecide's numbers for calls.
func decideResults(v []int64, calls []ratelimit.Call) ([]ratelimit.Result, error) {
	if len(v)%4 != 0 || len(v) == 0 || len(v) > 4*len(calls) {
		return nil, errors.New("redis rate limit: unexpected script reply")
	}
	out := make([]ratelimit.Result, len(v)/4)
	for i := range out {
		r, lim := v[4*i:4*i+4], calls[i].Limit
		out[i] = ratelimit.Result{
			Limit:      lim,
			Allowed:    r[0] == 1,
			Remaining:  int(min(r[1], int64(lim.Burst))),
			ResetAfter: time.Duration(r[2]) * time.Microsecond,
			RetryAfter: time.Duration(r[3]) * time.Microsecond,
		}
	}
	return out, nil
}

// Decide implements ratelimit.BatchLimiter: one script call for every
// bucket of a request.
func (l *Limiter) Decide(ctx context.Context, calls []ratelimit.Call) ([]ratelimit.Result, error) {
	keys, args, err := l.decideArgs(calls)
	if err != nil {
		return nil, err
	}
	v, err := decideScript.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("redis rate limit: %w", err)
	}
	return decideResults(v, calls)
}
