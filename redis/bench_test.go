package redis_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/redis"
)

// BenchmarkRedisAllow measures decisions on the machine's Redis, one at a
// time (the round trip) and 64 in flight (as under load, reported as
// decisions per second), on the client Dial makes, which pipelines
// concurrent decisions, and on a plain pooled client, which does not.
func BenchmarkRedisAllow(b *testing.B) {
	const inFlight = 64
	client := sharedRedis(b, inFlight)
	dialed, err := redis.Dial("redis://127.0.0.1:6379/"+strconv.Itoa(testDB), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer dialed.Close()
	limit := mcpgate.Limit{Rate: 600, Per: time.Minute, Burst: 600}
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "principal:" + strconv.Itoa(i)
	}
	ctx := context.Background()

	for _, bc := range []struct {
		name string
		l    *redis.Limiter
	}{{"dial", dialed}, {"pooled", redis.New(client, nil)}} {
		b.Run(bc.name+"/sequential", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := bc.l.Allow(ctx, keys[i%len(keys)], limit, 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
		b.Run(bc.name+"/concurrency-64", func(b *testing.B) {
			b.SetParallelism(max(1, inFlight/runtime.GOMAXPROCS(0)))
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(1000))
				for pb.Next() {
					if _, err := bc.l.Allow(ctx, keys[i%len(keys)], limit, 1); err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}
