// Package inmem holds the in-process implementation of [mcpgate.Limiter]:
// rate limits kept in this process's memory, for a single replica or as the
// fallback of a shared limiter whose store is unreachable.
//
//	limits, err := ratelimit.New(inmem.New(nil), policy, nil)
//	p := pipeline.New(auth, &pipeline.Options{RateLimit: limits})
package inmem

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Options configure a [Limiter]. The zero value is valid.
type Options struct {
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// MaxKeys bounds the number of keys kept; 500,000 by default (about
	// 50 MB with 40-byte keys). See [Limiter] for what happens at the
	// bound.
	MaxKeys int
	// SweepInterval is how often, at most, a shard that receives a new key
	// drops its idle keys; one minute by default.
	SweepInterval time.Duration
}

func (o *Options) withDefaults() Options {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 500_000
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	return opts
}

// numShards spreads keys over independently locked maps, so that
// concurrent decisions on different keys seldom wait for one another.
const numShards = 64

// Limiter is an in-process GCRA [mcpgate.Limiter]. Each key's whole state
// is one number, its theoretical arrival time (TAT): the time at which the
// key will have its whole burst again. A request of cost n is admitted if
// TAT + n×interval − burst window is not in the future, and then moves TAT
// forward by n×interval.
//
// A key whose TAT has passed is indistinguishable from a key never seen,
// so dropping it changes no decision: such idle keys are dropped from a
// shard at most once per SweepInterval, when the shard receives a new key.
// At most MaxKeys keys are kept. When a shard is full of keys that are all
// still limited, the ones closest to their reset are dropped; such a key
// may then be admitted up to its burst earlier than it should, which is the
// price of bounded memory.
//
// A decision on a known key allocates nothing.
type Limiter struct {
	now      func() time.Time
	epoch    time.Time // TATs are nanoseconds since epoch
	seed     maphash.Seed
	sweep    int64 // SweepInterval in nanoseconds
	shardCap int
	shards   [numShards]shard
}

type shard struct {
	mu      sync.Mutex
	tat     map[string]int64
	sweepAt int64
	_       [40]byte // keeps shards on separate cache lines
}

var _ mcpgate.Limiter = (*Limiter)(nil)

// New returns an empty Limiter. opts may be nil.
func New(opts *Options) *Limiter {
	o := opts.withDefaults()
	l := &Limiter{
		now:      o.Now,
		epoch:    o.Now(),
		seed:     maphash.MakeSeed(),
		sweep:    int64(o.SweepInterval),
		shardCap: max(1, (o.MaxKeys+numShards-1)/numShards),
	}
	for i := range l.shards {
		l.shards[i].tat = make(map[string]int64)
	}
	return l
}

// Allow implements [mcpgate.Limiter]. It returns an error only for a limit
// or cost that fails [mcpgate.Limit.Check]; ctx is not used.
func (l *Limiter) Allow(_ context.Context, key string, limit mcpgate.Limit, cost int) (mcpgate.Decision, error) {
	if err := limit.Check(cost); err != nil {
		return mcpgate.Decision{Limit: limit}, err
	}
	if limit.IsOff() {
		return mcpgate.Decision{Allowed: true, Limit: limit}, nil
	}
	now := int64(l.now().Sub(l.epoch))
	s := &l.shards[maphash.String(l.seed, key)%numShards]
	s.mu.Lock()
	d := s.allow(key, now, limit, cost, l)
	s.mu.Unlock()
	return d, nil
}

func (s *shard) allow(key string, now int64, limit mcpgate.Limit, cost int, l *Limiter) mcpgate.Decision {
	interval := int64(limit.Interval())
	window := int64(limit.Burst) * interval
	tat, known := s.tat[key]
	tat = max(tat, now)
	newTAT := tat + int64(cost)*interval
	allowAt := newTAT - window
	if now < allowAt {
		return mcpgate.Decision{
			Remaining:  int(max(0, now-(tat-window)) / interval),
			RetryAfter: time.Duration(allowAt - now),
			ResetAfter: time.Duration(tat - now),
			Limit:      limit,
		}
	}
	if known {
		s.tat[key] = newTAT
	} else {
		s.insert(key, now, newTAT, l)
	}
	return mcpgate.Decision{
		Allowed:    true,
		Remaining:  int((now - allowAt) / interval),
		ResetAfter: time.Duration(newTAT - now),
		Limit:      limit,
	}
}

// insert adds a new key, first making room if the shard is full or due
// for a sweep. The key is copied so that the map does not keep alive the
// buffer the caller's key may have been cut from.
func (s *shard) insert(key string, now, tat int64, l *Limiter) {
	if len(s.tat) >= l.shardCap || now >= s.sweepAt {
		s.dropIdle(now)
		s.sweepAt = now + l.sweep
	}
	if len(s.tat) >= l.shardCap {
		s.dropNearestReset(now)
	}
	s.tat[strings.Clone(key)] = tat
}

// dropIdle drops the keys whose TAT has passed.
func (s *shard) dropIdle(now int64) {
	for k, tat := range s.tat {
		if tat <= now {
			delete(s.tat, k)
		}
	}
}

// dropNearestReset drops, from a shard full of limited keys, those whose
// TAT is in the nearest eighth of the spread of TATs (at least one), so
// that a stream of new keys into a full shard costs one scan per several
// keys rather than one per key.
func (s *shard) dropNearestReset(now int64) {
	lo, hi := int64(1<<63-1), now
	for _, tat := range s.tat {
		lo, hi = min(lo, tat), max(hi, tat)
	}
	limit := lo + (hi-lo)/8
	for k, tat := range s.tat {
		if tat <= limit {
			delete(s.tat, k)
		}
	}
}

// Len returns the number of keys kept.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
