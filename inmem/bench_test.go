package inmem_test

import (
	"context"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
)

const activeKeys = 100_000

var benchLimit = mcpgate.Limit{Rate: 600, Per: time.Minute, Burst: 600}

func benchKeys() []string {
	keys := make([]string, activeKeys)
	for i := range keys {
		keys[i] = "principal:" + strconv.Itoa(i*7919)
	}
	return keys
}

// BenchmarkInmemAllow measures one decision among 100,000 active keys,
// against the same done with golang.org/x/time/rate limiters in a map
// sharded the same way.
func BenchmarkInmemAllow(b *testing.B) {
	keys := benchKeys()
	ctx := context.Background()

	l := inmem.New(nil)
	for _, k := range keys {
		l.Allow(ctx, k, benchLimit, 1)
	}
	b.Run("inmem", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Allow(ctx, keys[i%activeKeys], benchLimit, 1)
			i++
		}
	})
	b.Run("inmem-parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(activeKeys / 4))
			for pb.Next() {
				l.Allow(ctx, keys[i%activeKeys], benchLimit, 1)
				i++
			}
		})
	})

	x := newXRate()
	for _, k := range keys {
		x.allow(k)
	}
	b.Run("x-time-rate", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x.allow(keys[i%activeKeys])
			i++
		}
	})
	b.Run("x-time-rate-parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(activeKeys / 4))
			for pb.Next() {
				x.allow(keys[i%activeKeys])
				i++
			}
		})
	})
}

// xRate is the obvious alternative: a *rate.Limiter per key, in 64
// locked maps.
type xRate struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.Mutex
		m  map[string]*rate.Limiter
	}
}

func newXRate() *xRate {
	x := &xRate{seed: maphash.MakeSeed()}
	for i := range x.shards {
		x.shards[i].m = make(map[string]*rate.Limiter)
	}
	return x
}

func (x *xRate) allow(key string) bool {
	s := &x.shards[maphash.String(x.seed, key)%64]
	s.mu.Lock()
	lim, ok := s.m[key]
	if !ok {
		lim = rate.NewLimiter(rate.Every(benchLimit.Interval()), benchLimit.Burst)
		s.m[key] = lim
	}
	s.mu.Unlock()
	return lim.AllowN(time.Now(), 1)
}
