package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryOptions configure a Memory limiter. Zero values take the defaults.
type MemoryOptions struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxKeys bounds the number of buckets kept (default 1,000,000). Full
	// buckets are dropped as soon as they are seen idle, which loses
	// nothing; only when MaxKeys live buckets exist at once is the fullest
	// one of a shard evicted early.
	MaxKeys int
	// SweepInterval is how often each shard drops its idle buckets (default
	// one minute).
	SweepInterval time.Duration
}

const memoryShards = 64

// Memory is an in-process GCRA Limiter, sharded by key so concurrent
// requests on different subjects rarely share a lock. A bucket whose
// theoretical arrival time has passed is full and is forgotten, so memory
// follows the number of subjects active within their burst window.
type Memory struct {
	now         func() time.Time
	seed        maphash.Seed
	maxPerShard int
	sweepEvery  int64
	shards      [memoryShards]memShard
}

type memShard struct {
	mu        sync.Mutex
	tat       map[string]int64 // theoretical arrival time, UnixNano
	nextSweep int64
	_         [104]byte // pad to 128 bytes: hot shards on separate cache lines
}

// NewMemory returns an empty in-memory limiter.
func NewMemory(opt MemoryOptions) *Memory {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxKeys <= 0 {
		opt.MaxKeys = 1_000_000
	}
	if opt.SweepInterval <= 0 {
		opt.SweepInterval = time.Minute
	}
	m := &Memory{
		now:         opt.Now,
		seed:        maphash.MakeSeed(),
		maxPerShard: max(1, opt.MaxKeys/memoryShards),
		sweepEvery:  int64(opt.SweepInterval),
	}
	for i := range m.shards {
		m.shards[i].tat = make(map[string]int64)
	}
	return m
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, l Limit, cost int) (Result, error) {
	return m.do(key, l, cost, opAllow)
}

// Peek implements Limiter.
func (m *Memory) Peek(_ context.Context, key string, l Limit, cost int) (Result, error) {
	return m.do(key, l, cost, opPeek)
}

// Charge implements Limiter.
func (m *Memory) Charge(_ context.Context, key string, l Limit, cost int) (Result, error) {
	return m.do(key, l, cost, opCharge)
}

// Len returns the number of buckets held (for tests and metrics).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

func (m *Memory) do(key string, l Limit, cost int, o op) (Result, error) {
	if !l.Valid() {
		return Result{}, fmt.Errorf("rate limit %q: invalid limit %+v", key, l)
	}
	s := &m.shards[maphash.String(m.seed, key)%memoryShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	now := m.now().UnixNano()
	if now >= s.nextSweep {
		s.sweep(now)
		s.nextSweep = now + m.sweepEvery
	}
	old, had := s.tat[key]
	tat, store, res := gcraStep(now, old, l, cost, o)
	switch {
	case !store:
	case tat <= now:
		delete(s.tat, key)
	default:
		if !had && len(s.tat) >= m.maxPerShard {
			s.sweep(now)
			if len(s.tat) >= m.maxPerShard {
				s.evictFullest()
			}
		}
		s.tat[key] = tat
	}
	return res, nil
}

// sweep drops every bucket that is full again at now.
func (s *memShard) sweep(now int64) {
	for k, t := range s.tat {
		if t <= now {
			delete(s.tat, k)
		}
	}
}

// evictFullest drops the bucket closest to full, the one whose loss grants
// the least extra allowance.
func (s *memShard) evictFullest() {
	var (
		victim string
		min    int64
		found  bool
	)
	for k, t := range s.tat {
		if !found || t < min {
			victim, min, found = k, t, true
		}
	}
	if found {
		delete(s.tat, victim)
	}
}
