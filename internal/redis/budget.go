package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/budget"
	"github.com/tollgate/tollgate/internal/gateway"
)

// budgetLua defines the budget steps of an admission, over keys and argv
// laid out as reserveScript's KEYS and ARGV.
//
// A counter is a hash (ut, uc: settled tokens and cost; rt, rc: reserved)
// with a sorted set beside it of the open reservations ("<id>:<tokens>:
// <cost>", scored by expiry in ms); a slot is a sorted set of request ids
// scored the same way. Lapsed members are dropped (and their amounts
// released) first, so a crashed instance's requests free what they held.
//
// budgetsMissing(keys, argv) rebuilds the counters the caller loaded and
// returns {3, i...} for those still missing (load them and retry), or {}.
// budgetsReserve(keys, argv) returns {0} admitted (everything reserved),
// {1, i} slot i full, {2, i} budget i without room (nothing reserved).
//
// keys: per budget its hash and its set, then one set per slot. argv: now
// ms, expiry ms, id, #budgets, #slots; per budget: max tokens, max cost
// (-1: no cap), tokens, cost, counter lifetime ms (0: none), settled
// tokens and cost from the database ("" when not loaded); per slot: its
// max. (Amounts are negated as 0 - x: Lua's -x of 0 is -0, which HINCRBY
// refuses.)
const budgetLua = `
local function budgetsMissing(keys, argv)
  local nb = tonumber(argv[4])
  local missing = {}
  for i = 1, nb do
    local h, a = keys[2*i-1], 5 + (i-1)*7
    if redis.call("EXISTS", h) == 0 then
      if argv[a+6] == "" then
        missing[#missing+1] = i
      else
        redis.call("HSET", h, "ut", argv[a+6], "uc", argv[a+7], "rt", 0, "rc", 0)
        redis.call("DEL", keys[2*i])
        local life = tonumber(argv[a+5])
        if life > 0 then redis.call("PEXPIRE", h, life) end
      end
    end
  end
  if #missing > 0 then table.insert(missing, 1, 3) end
  return missing
end
local function budgetsReserve(keys, argv)
  local now, exp, id = tonumber(argv[1]), tonumber(argv[2]), argv[3]
  local nb, ns = tonumber(argv[4]), tonumber(argv[5])
  for j = 1, ns do
    local k = keys[2*nb+j]
    redis.call("ZREMRANGEBYSCORE", k, "-inf", now)
    if redis.call("ZCARD", k) >= tonumber(argv[5+nb*7+j]) then return {1, j} end
  end
  for i = 1, nb do
    local h, z, a = keys[2*i-1], keys[2*i], 5 + (i-1)*7
    local lapsed = redis.call("ZRANGEBYSCORE", z, "-inf", now)
    for _, m in ipairs(lapsed) do
      local t, c = string.match(m, ":(%d+):(%d+)$")
      redis.call("HINCRBY", h, "rt", 0 - tonumber(t))
      redis.call("HINCRBY", h, "rc", 0 - tonumber(c))
    end
    if #lapsed > 0 then redis.call("ZREMRANGEBYSCORE", z, "-inf", now) end
    local v = redis.call("HMGET", h, "ut", "uc", "rt", "rc")
    local maxT, maxC = tonumber(argv[a+1]), tonumber(argv[a+2])
    local t, c = tonumber(argv[a+3]), tonumber(argv[a+4])
    if (maxT >= 0 and tonumber(v[1]) + tonumber(v[3]) + t > maxT) or
       (maxC >= 0 and tonumber(v[2]) + tonumber(v[4]) + c > maxC) then
      return {2, i}
    end
  end
  for j = 1, ns do
    local k = keys[2*nb+j]
    redis.call("ZADD", k, exp, id)
    redis.call("PEXPIRE", k, exp - now)
  end
  for i = 1, nb do
    local h, z, a = keys[2*i-1], keys[2*i], 5 + (i-1)*7
    redis.call("HINCRBY", h, "rt", argv[a+3])
    redis.call("HINCRBY", h, "rc", argv[a+4])
    redis.call("ZADD", z, exp, id .. ":" .. argv[a+3] .. ":" .. argv[a+4])
    local life = tonumber(argv[a+5])
    if life > 0 then redis.call("PEXPIRE", z, life) end
  end
  return {0}
end
`

// reserveScript admits one request against all of its max_parallel slots
// and budget counters at once, or changes nothing. KEYS and ARGV as
// budgetLua describes; returns budgetsMissing's answer when a counter is
// missing, else budgetsReserve's.
var reserveScript = goredis.NewScript(budgetLua + `
local missing = budgetsMissing(KEYS, ARGV)
if #missing > 0 then return missing end
return budgetsReserve(KEYS, ARGV)
`)

// admitScript is reserveScript and the rate-limit decision of the same
// request in one call: KEYS and ARGV are reserveScript's followed by
// decideScript's. Missing counters are reported before anything is
// decided (the caller retries the whole call); then the rate-limit
// buckets are decided, and a refusal there changes nothing and reserves
// nothing; else the buckets are recorded (as a separate check before the
// budgets would have) and the budgets reserved. Returns {budget answer,
// rate-limit numbers}; the budget answer is {4} when the rate limit
// refused.
var admitScript = goredis.NewScript(gcraLua + budgetLua + `
local nb, ns = tonumber(ARGV[4]), tonumber(ARGV[5])
local kc, ac = 2*nb + ns, 5 + 7*nb + ns
local bk, ba, gk, ga = {}, {}, {}, {}
for i = 1, #KEYS do
  if i <= kc then bk[#bk+1] = KEYS[i] else gk[#gk+1] = KEYS[i] end
end
for i = 1, #ARGV do
  if i <= ac then ba[#ba+1] = ARGV[i] else ga[#ga+1] = ARGV[i] end
end
local missing = budgetsMissing(bk, ba)
if #missing > 0 then return {missing, {}} end
local now = redisNow()
local out, writes, ok = gcraDecide(gk, ga, now)
if not ok then return {{4}, out} end
gcraCommit(writes, now)
return {budgetsReserve(bk, ba), out}
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
	limits *Limiter // the shared rate limiter whose buckets Reserve may decide too
}

// NewBudgetCounters returns BudgetCounters whose keys start with prefix
// (e.g. "tollgate:budget:").
func NewBudgetCounters(rdb goredis.Cmdable, prefix string, load CounterLoader) *BudgetCounters {
	return &BudgetCounters{rdb: rdb, prefix: prefix, load: load}
}

var _ budget.Counters = (*BudgetCounters)(nil)

// DecidingLimits returns c that, given a reservation's rate-limit calls,
// decides them on l's buckets in the same script call (l must use the
// same Redis).
func (c *BudgetCounters) DecidingLimits(l *Limiter) *BudgetCounters {
	c.limits = l
	return c
}

// DecidesLimits implements budget.Counters.
func (c *BudgetCounters) DecidesLimits() bool { return c.limits != nil }

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

// Reserve implements budget.Counters: one script call (reserveScript, or
// admitScript with rate-limit calls), plus one per rebuild of a missing
// counter.
func (c *BudgetCounters) Reserve(ctx context.Context, r *budget.Reservation) (budget.Outcome, error) {
	out := budget.Outcome{RefusedSlot: -1, RefusedBudget: -1}
	keys := c.keys(r)
	var lkeys []string
	var largs []any
	if len(r.Limits) > 0 {
		if c.limits == nil {
			return out, errors.New("redis budgets: rate limits given but no limiter")
		}
		var err error
		if lkeys, largs, err = c.limits.decideArgs(r.Limits); err != nil {
			return out, err
		}
	}
	loaded := make([]*gateway.BudgetCounter, len(r.Charges))
	for range 3 {
		args := c.reserveArgs(r, loaded)
		var v []int64
		if lkeys == nil {
			var err error
			if v, err = reserveScript.Run(ctx, c.rdb, keys, args...).Int64Slice(); err != nil {
				return out, fmt.Errorf("redis budgets: %w", err)
			}
		} else {
			reply, err := admitScript.Run(ctx, c.rdb, append(slices.Clip(keys), lkeys...), append(args, largs...)...).Slice()
			if err != nil {
				return out, fmt.Errorf("redis budgets: %w", err)
			}
			var lv []int64
			if v, lv, err = admitReply(reply); err != nil {
				return out, err
			}
			if len(lv) > 0 {
				if out.Limits, err = decideResults(lv, r.Limits); err != nil {
					return out, err
				}
			}
		}
		if len(v) < 1 || (v[0] != 0 && v[0] != 4 && len(v) < 2) {
			return out, errors.New("redis budgets: unexpected script reply")
		}
		switch v[0] {
		case 0:
			return out, nil
		case 1:
			out.RefusedSlot = int(v[1] - 1)
			return out, nil
		case 2:
			out.RefusedBudget = int(v[1] - 1)
			return out, nil
		case 4:
			out.Limited = true
			return out, nil
		}
		for _, i := range v[1:] {
			ch := r.Charges[i-1]
			bc, err := c.load(ctx, ch.Budget.ID, ch.PeriodStart)
			if err != nil {
				return out, fmt.Errorf("rebuild budget counter %s: %w", ch.Budget.ID, err)
			}
			loaded[i-1] = &bc
		}
	}
	return out, errors.New("redis budgets: counters keep disappearing")
}

// reserveArgs are reserveScript's ARGV for r, with the settled totals of
// the counters loaded so far.
func (c *BudgetCounters) reserveArgs(r *budget.Reservation, loaded []*gateway.BudgetCounter) []any {
	args := make([]any, 0, 5+7*len(r.Charges)+len(r.Slots)+3*len(r.Limits))
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
	return args
}

// admitReply splits admitScript's reply into its budget answer and its
// rate-limit numbers.
func admitReply(reply []any) (budgetPart, limitPart []int64, err error) {
	ints := func(x any) ([]int64, bool) {
		xs, ok := x.([]any)
		if !ok {
			return nil, false
		}
		out := make([]int64, len(xs))
		for i, v := range xs {
			if out[i], ok = v.(int64); !ok {
				return nil, false
			}
		}
		return out, true
	}
	if len(reply) != 2 {
		return nil, nil, errors.New("redis budgets: unexpected script reply")
	}
	b, ok1 := ints(reply[0])
	l, ok2 := ints(reply[1])
	if !ok1 || !ok2 {
		return nil, nil, errors.New("redis budgets: unexpected script reply")
	}
	return b, l, nil
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
