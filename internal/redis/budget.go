package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
)

// reserveScript admits one request against all of its max_parallel slots
// and budget counters at once, or changes nothing.
//
// A counter is a hash (ut, uc: settled tokens and cost; rt, rc: reserved)
// with a sorted set beside it of the open reservations ("<id>:<tokens>:
// <cost>", scored by expiry in ms); a slot is a sorted set of request ids
// scored the same way. Lapsed members are dropped (and their amounts
// released) first, so a crashed instance's requests free what they held.
//
// KEYS: per budget its hash and its set, then one set per slot.
// ARGV: now ms, expiry ms, id, #budgets, #slots; per budget: max tokens,
// max cost (-1: no cap), tokens, cost, counter lifetime ms (0: none),
// settled tokens and cost from the database ("" when not loaded); per
// slot: its max.
// (Amounts are negated as 0 - x: Lua's -x of 0 is -0, which HINCRBY refuses.)
// Returns {0} admitted, {1, i} slot i full, {2, i} budget i without room,
// {3, i...} budgets whose counters are missing (load them and retry).
var reserveScript = goredis.NewScript(`
local now, exp, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local nb, ns = tonumber(ARGV[4]), tonumber(ARGV[5])
local missing = {}
for i = 1, nb do
  local h, a = KEYS[2*i-1], 5 + (i-1)*7
  if redis.call("EXISTS", h) == 0 then
    if ARGV[a+6] == "" then
      missing[#missing+1] = i
    else
      redis.call("HSET", h, "ut", ARGV[a+6], "uc", ARGV[a+7], "rt", 0, "rc", 0)
      redis.call("DEL", KEYS[2*i])
      local life = tonumber(ARGV[a+5])
      if life > 0 then redis.call("PEXPIRE", h, life) end
    end
  end
end
if #missing > 0 then
  table.insert(missing, 1, 3)
  return missing
end
for j = 1, ns do
  local k = KEYS[2*nb+j]
  redis.call("ZREMRANGEBYSCORE", k, "-inf", now)
  if redis.call("ZCARD", k) >= tonumber(ARGV[5+nb*7+j]) then return {1, j} end
end
for i = 1, nb do
  local h, z, a = KEYS[2*i-1], KEYS[2*i], 5 + (i-1)*7
  local lapsed = redis.call("ZRANGEBYSCORE", z, "-inf", now)
  for _, m in ipairs(lapsed) do
    local t, c = string.match(m, ":(%d+):(%d+)$")
    redis.call("HINCRBY", h, "rt", 0 - tonumber(t))
    redis.call("HINCRBY", h, "rc", 0 - tonumber(c))
  end
  if #lapsed > 0 then redis.call("ZREMRANGEBYSCORE", z, "-inf", now) end
  local v = redis.call("HMGET", h, "ut", "uc", "rt", "rc")
  local maxT, maxC = tonumber(ARGV[a+1]), tonumber(ARGV[a+2])
  local t, c = tonumber(ARGV[a+3]), tonumber(ARGV[a+4])
  if (maxT >= 0 and tonumber(v[1]) + tonumber(v[3]) + t > maxT) or
     (maxC >= 0 and tonumber(v[2]) + tonumber(v[4]) + c > maxC) then
    return {2, i}
  end
end
for j = 1, ns do
  local k = KEYS[2*nb+j]
  redis.call("ZADD", k, exp, id)
  redis.call("PEXPIRE", k, exp - now)
end
for i = 1, nb do
  local h, z, a = KEYS[2*i-1], KEYS[2*i], 5 + (i-1)*7
  redis.call("HINCRBY", h, "rt", ARGV[a+3])
  redis.call("HINCRBY", h, "rc", ARGV[a+4])
  redis.call("ZADD", z, exp, id .. ":" .. ARGV[a+3] .. ":" .. ARGV[a+4])
  local life = tonumber(ARGV[a+5])
  if life > 0 then redis.call("PEXPIRE", z, life) end
end
return {0}
`)

// settleScript settles one reservation: per budget it removes the
// reservation (releasing its amounts if it had not lapsed) and adds the
// real use to a counter that still exists (a lost one is rebuilt from the
// database, which already holds this use).
//
// KEYS: per budget its hash and its set. ARGV: id, #budgets, tokens and
// cost used, then per budget the reserved tokens and cost.
var settleScript = goredis.NewScript(`
local id, nb = ARGV[1], tonumber(ARGV[2])
for i = 1, nb do
  local h, z, a = KEYS[2*i-1], KEYS[2*i], 4 + (i-1)*2
  if redis.call("EXISTS", h) == 1 then
    if redis.call("ZREM", z, id .. ":" .. ARGV[a+1] .. ":" .. ARGV[a+2]) == 1 then
      redis.call("HINCRBY", h, "rt", 0 - tonumber(ARGV[a+1]))
      redis.call("HINCRBY", h, "rc", 0 - tonumber(ARGV[a+2]))
    end
    redis.call("HINCRBY", h, "ut", ARGV[3])
    redis.call("HINCRBY", h, "uc", ARGV[4])
  end
end
return 0
`)

// CounterLoader reads a budget period's settled use from the database
// (gateway.BudgetStore.BudgetCounter).
type CounterLoader func(ctx context.Context, budgetID string, periodStart time.Time) (gateway.BudgetCounter, error)

// BudgetCounters is a budget.Counters on Redis: one script call admits a
// request against all of its slots and budgets, so instances sharing
// Redis and Prefix admit exactly what the budgets hold. Counters that are
// missing (a new period, a Redis restart or flush) are rebuilt from the
// settled totals Load reads, which costs that admission a second call.
type BudgetCounters struct {
	rdb    goredis.Cmdable
	prefix string
	load   CounterLoader
}

// NewBudgetCounters returns BudgetCounters whose keys start with prefix
// (e.g. "tollgate:budget:").
func NewBudgetCounters(rdb goredis.Cmdable, prefix string, load CounterLoader) *BudgetCounters {
	return &BudgetCounters{rdb: rdb, prefix: prefix, load: load}
}

var _ budget.Counters = (*BudgetCounters)(nil)

// counterKey is the hash of a budget's period (its reservations' set is
// counterKey + ":res").
func (c *BudgetCounters) counterKey(budgetID string, periodStart time.Time) string {
	return c.prefix + "b:" + budgetID + ":" + strconv.FormatInt(periodStart.Unix(), 10)
}

func (c *BudgetCounters) slotKey(s budget.Slot) string { return c.prefix + "p:" + s.Key }

func (c *BudgetCounters) keys(r *budget.Reservation) []string {
	keys := make([]string, 0, 2*len(r.Charges)+len(r.Slots))
	for _, ch := range r.Charges {
		h := c.counterKey(ch.Budget.ID, ch.PeriodStart)
		keys = append(keys, h, h+":res")
	}
	for _, s := range r.Slots {
		keys = append(keys, c.slotKey(s))
	}
	return keys
}

// Reserve implements budget.Counters.
func (c *BudgetCounters) Reserve(ctx context.Context, r *budget.Reservation) (int, int, error) {
	keys := c.keys(r)
	loaded := make([]*gateway.BudgetCounter, len(r.Charges))
	for range 3 {
		args := make([]any, 0, 5+7*len(r.Charges)+len(r.Slots))
		args = append(args, r.Now.UnixMilli(), r.Expires.UnixMilli(), r.ID, len(r.Charges), len(r.Slots))
		for i, ch := range r.Charges {
			maxT, maxC := int64(-1), int64(-1)
			if ch.Budget.MaxTokens != nil {
				maxT = *ch.Budget.MaxTokens
			}
			if ch.Budget.MaxCost != nil {
				maxC = int64(*ch.Budget.MaxCost)
			}
			var life int64
			if _, end := ch.Budget.Period.Bounds(r.Now); !end.IsZero() {
				life = end.Sub(r.Now).Milliseconds() + r.Expires.Sub(r.Now).Milliseconds()
			}
			ut, uc := any(""), any("")
			if l := loaded[i]; l != nil {
				ut, uc = l.UsedTokens, int64(l.UsedCost)
			}
			args = append(args, maxT, maxC, ch.Tokens, int64(ch.Cost), life, ut, uc)
		}
		for _, s := range r.Slots {
			args = append(args, s.Max)
		}
		v, err := reserveScript.Run(ctx, c.rdb, keys, args...).Int64Slice()
		if err != nil {
			return -1, -1, fmt.Errorf("redis budgets: %w", err)
		}
		if len(v) < 1 || (v[0] != 0 && len(v) < 2) {
			return -1, -1, errors.New("redis budgets: unexpected script reply")
		}
		switch v[0] {
		case 0:
			return -1, -1, nil
		case 1:
			return int(v[1] - 1), -1, nil
		case 2:
			return -1, int(v[1] - 1), nil
		}
		for _, i := range v[1:] {
			ch := r.Charges[i-1]
			bc, err := c.load(ctx, ch.Budget.ID, ch.PeriodStart)
			if err != nil {
				return -1, -1, fmt.Errorf("rebuild budget counter %s: %w", ch.Budget.ID, err)
			}
			loaded[i-1] = &bc
		}
	}
	return -1, -1, errors.New("redis budgets: counters keep disappearing")
}

// FreeSlots implements budget.Counters: one ZREM per slot, pipelined.
func (c *BudgetCounters) FreeSlots(ctx context.Context, id string, slots []budget.Slot) error {
	_, err := c.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for _, s := range slots {
			pipe.ZRem(ctx, c.slotKey(s), id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis budgets free slots: %w", err)
	}
	return nil
}

// Settle implements budget.Counters: one settleScript per use, pipelined
// (one round trip); the script is loaded first when Redis lost it.
func (c *BudgetCounters) Settle(ctx context.Context, uses []gateway.SettledUse) error {
	run := func() error {
		_, err := c.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
			for _, u := range uses {
				st := u.Settlement
				keys := make([]string, 0, 2*len(st.Reserved))
				args := make([]any, 0, 4+2*len(st.Reserved))
				args = append(args, st.ReservationID, len(st.Reserved), u.Tokens, int64(u.Cost))
				for _, r := range st.Reserved {
					h := c.counterKey(r.BudgetID, r.PeriodStart)
					keys = append(keys, h, h+":res")
					args = append(args, r.Tokens, int64(r.Cost))
				}
				settleScript.EvalSha(ctx, pipe, keys, args...)
			}
			return nil
		})
		return err
	}
	err := run()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		if err = settleScript.Load(ctx, c.rdb).Err(); err == nil {
			err = run()
		}
	}
	if err != nil {
		return fmt.Errorf("redis budgets settle: %w", err)
	}
	return nil
}
