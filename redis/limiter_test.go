package redis_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/limitertest"
	"github.com/mcpgate/mcpgate/redis"
)

// testDB is the database of the machine's Redis that these tests own and
// empty: no other test or program of mcpgate uses it.
const testDB = 11

// sharedRedis returns a client on the machine's Redis (127.0.0.1:6379),
// database testDB, emptied. Without Redis the test fails, unless
// MCPGATE_SKIP_SERVICES=1.
func sharedRedis(tb testing.TB, poolSize int) *goredis.Client {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", DB: testDB, PoolSize: poolSize})
	tb.Cleanup(func() { c.Close() })
	if err := c.FlushDB(tb.Context()).Err(); err != nil {
		if os.Getenv("MCPGATE_SKIP_SERVICES") == "1" {
			tb.Skipf("Redis unreachable (MCPGATE_SKIP_SERVICES=1): %v", err)
		}
		tb.Fatalf("Redis unreachable on 127.0.0.1:6379: %v (set MCPGATE_SKIP_SERVICES=1 to skip)", err)
	}
	return c
}

func TestLimiter(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) mcpgate.Limiter {
		return redis.New(sharedRedis(t, 0), &redis.Options{Now: now})
	})
}

// TestLimiterDial runs the suite on the client Dial makes, which
// pipelines concurrent decisions.
func TestLimiterDial(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) mcpgate.Limiter {
		sharedRedis(t, 0)
		l, err := redis.Dial("redis://127.0.0.1:6379/"+strconv.Itoa(testDB), &redis.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	})
}

// Keys are stored under the prefix and expire when their burst is regained.
func TestKeyPrefixAndExpiry(t *testing.T) {
	c := sharedRedis(t, 0)
	l := redis.New(c, &redis.Options{Prefix: "gw1:"})
	limit := mcpgate.Limit{Rate: 10, Per: time.Second, Burst: 10}
	if _, err := l.Allow(t.Context(), "alice", limit, 3); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.PTTL(t.Context(), "gw1:alice").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > 300*time.Millisecond {
		t.Errorf("TTL of a key charged 3 × 100ms = %v, want (0, 300ms]", ttl)
	}
	// Another prefix is another gateway: its keys are its own.
	other := redis.New(c, &redis.Options{Prefix: "gw2:"})
	if d, err := other.Allow(t.Context(), "alice", limit, 10); err != nil || !d.Allowed {
		t.Errorf("whole burst under another prefix: %+v, %v", d, err)
	}
}
