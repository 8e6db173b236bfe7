// Package limitertest is the conformance suite of [mcpgate.Limiter]: every
// implementation (inmem, redis) runs it and must pass the same assertions,
// so that a gateway admits the same requests whichever it is given.
package limitertest

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpgate/mcpgate"
)

// Open returns a new limiter with no state. If now is not nil the limiter
// must take the time from it; if it is nil the limiter uses its own clock
// (time.Now, or the Redis server's).
type Open func(t *testing.T, now func() time.Time) mcpgate.Limiter

// Run runs the suite against the limiters open returns. Most cases drive a
// fake clock, so that their assertions are exact; RealClock checks the
// limiter's own clock within tolerances.
func Run(t *testing.T, open Open) {
	t.Helper()
	fake := func(f func(*testing.T, mcpgate.Limiter, *Clock)) func(*testing.T) {
		return func(t *testing.T) {
			c := NewClock()
			f(t, open(t, c.Now), c)
		}
	}
	t.Run("BurstThenRefusal", fake(testBurstThenRefusal))
	t.Run("RetryAfter", fake(testRetryAfter))
	t.Run("Refill", fake(testRefill))
	t.Run("Cost", fake(testCost))
	t.Run("KeysIndependent", fake(testKeysIndependent))
	t.Run("Off", fake(testOff))
	t.Run("InvalidLimit", fake(testInvalidLimit))
	t.Run("Concurrent", fake(testConcurrent))
	t.Run("SameAsXTimeRate", fake(testSameAsXTimeRate))
	t.Run("RealClock", func(t *testing.T) { testRealClock(t, open(t, nil)) })
}

// Clock is a fake clock, safe for concurrent use, that moves only when told.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock set to a fixed time in 2027.
func NewClock() *Clock {
	c := new(Clock)
	c.ns.Store(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// tenPerMinute has an emission interval of 6s and a burst window of 30s.
var tenPerMinute = mcpgate.Limit{Rate: 10, Per: time.Minute, Burst: 5}

func allow(t *testing.T, l mcpgate.Limiter, key string, limit mcpgate.Limit, cost int) mcpgate.Decision {
	t.Helper()
	d, err := l.Allow(t.Context(), key, limit, cost)
	if err != nil {
		t.Fatalf("Allow(%q, %v, %d): %v", key, limit, cost, err)
	}
	if d.Limit != limit {
		t.Errorf("Allow(%q, %v, %d): decision has limit %v", key, limit, cost, d.Limit)
	}
	return d
}

func check(t *testing.T, what string, got, want mcpgate.Decision) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testBurstThenRefusal(t *testing.T, l mcpgate.Limiter, _ *Clock) {
	for i := range 5 {
		got := allow(t, l, "k", tenPerMinute, 1)
		check(t, "request within the burst", got, mcpgate.Decision{
			Allowed: true, Remaining: 4 - i, ResetAfter: time.Duration(i+1) * 6 * time.Second, Limit: tenPerMinute,
		})
	}
	got := allow(t, l, "k", tenPerMinute, 1)
	check(t, "request past the burst", got, mcpgate.Decision{
		RetryAfter: 6 * time.Second, ResetAfter: 30 * time.Second, Limit: tenPerMinute,
	})
	// A refusal charges nothing: asking again changes nothing.
	check(t, "second refusal", allow(t, l, "k", tenPerMinute, 1), got)
}

func testRetryAfter(t *testing.T, l mcpgate.Limiter, c *Clock) {
	for range 5 {
		allow(t, l, "k", tenPerMinute, 1)
	}
	c.Advance(2 * time.Second)
	d := allow(t, l, "k", tenPerMinute, 1)
	if d.Allowed || d.RetryAfter != 4*time.Second {
		t.Fatalf("2s after the burst: %+v, want refused with RetryAfter 4s", d)
	}
	c.Advance(d.RetryAfter - time.Microsecond)
	if d := allow(t, l, "k", tenPerMinute, 1); d.Allowed || d.RetryAfter != time.Microsecond {
		t.Fatalf("1µs before RetryAfter: %+v, want refused with RetryAfter 1µs", d)
	}
	c.Advance(time.Microsecond)
	if d := allow(t, l, "k", tenPerMinute, 1); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("at RetryAfter: %+v, want allowed with nothing remaining", d)
	}
}

func testRefill(t *testing.T, l mcpgate.Limiter, c *Clock) {
	for range 5 {
		allow(t, l, "k", tenPerMinute, 1)
	}
	c.Advance(12 * time.Second) // two intervals: two requests regained
	for i := range 2 {
		if d := allow(t, l, "k", tenPerMinute, 1); !d.Allowed || d.Remaining != 1-i {
			t.Fatalf("request %d after two intervals: %+v, want allowed with %d remaining", i, d, 1-i)
		}
	}
	if d := allow(t, l, "k", tenPerMinute, 1); d.Allowed {
		t.Fatalf("third request after two intervals: %+v, want refused", d)
	}
	c.Advance(time.Hour) // far past the window: the whole burst, no more
	for i := range 5 {
		if d := allow(t, l, "k", tenPerMinute, 1); !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("request %d after an hour: %+v, want allowed with %d remaining", i, d, 4-i)
		}
	}
	if d := allow(t, l, "k", tenPerMinute, 1); d.Allowed {
		t.Fatalf("request past the burst after an hour: %+v, want refused", d)
	}
}

func testCost(t *testing.T, l mcpgate.Limiter, c *Clock) {
	check(t, "cost 3 of 5", allow(t, l, "k", tenPerMinute, 3), mcpgate.Decision{
		Allowed: true, Remaining: 2, ResetAfter: 18 * time.Second, Limit: tenPerMinute,
	})
	check(t, "cost 3 with 2 remaining", allow(t, l, "k", tenPerMinute, 3), mcpgate.Decision{
		Remaining: 2, RetryAfter: 6 * time.Second, ResetAfter: 18 * time.Second, Limit: tenPerMinute,
	})
	check(t, "cost 2 with 2 remaining", allow(t, l, "k", tenPerMinute, 2), mcpgate.Decision{
		Allowed: true, Remaining: 0, ResetAfter: 30 * time.Second, Limit: tenPerMinute,
	})
	c.Advance(18 * time.Second)
	if d := allow(t, l, "k", tenPerMinute, 3); !d.Allowed {
		t.Fatalf("cost 3 three intervals later: %+v, want allowed", d)
	}
	for _, cost := range []int{0, -1, 6} {
		if _, err := l.Allow(t.Context(), "k", tenPerMinute, cost); !errors.Is(err, mcpgate.ErrInvalidLimit) {
			t.Errorf("cost %d under %v: error %v, want ErrInvalidLimit", cost, tenPerMinute, err)
		}
	}
}

func testKeysIndependent(t *testing.T, l mcpgate.Limiter, _ *Clock) {
	for range 5 {
		allow(t, l, "alice", tenPerMinute, 1)
	}
	if d := allow(t, l, "alice", tenPerMinute, 1); d.Allowed {
		t.Fatal("alice past her burst was allowed")
	}
	for _, key := range []string{"bob", "alice2", "Alice", ""} {
		if d := allow(t, l, key, tenPerMinute, 5); !d.Allowed {
			t.Errorf("key %q was limited by alice's requests: %+v", key, d)
		}
	}
}

func testOff(t *testing.T, l mcpgate.Limiter, _ *Clock) {
	for range 100 {
		check(t, "limit off", allow(t, l, "k", mcpgate.Off, 1), mcpgate.Decision{Allowed: true, Limit: mcpgate.Off})
	}
	// Off leaves no state behind for a later limit.
	if d := allow(t, l, "k", tenPerMinute, 5); !d.Allowed {
		t.Errorf("whole burst after requests under Off: %+v, want allowed", d)
	}
}

func testInvalidLimit(t *testing.T, l mcpgate.Limiter, _ *Clock) {
	for _, limit := range []mcpgate.Limit{
		{Rate: 0, Per: time.Second, Burst: 1},
		{Rate: 1, Per: 0, Burst: 1},
		{Rate: 1, Per: time.Second, Burst: 0},
		{Rate: 2_000_000, Per: time.Second, Burst: 1},
		{Rate: 1, Per: time.Hour, Burst: 1_000_000},
	} {
		if _, err := l.Allow(t.Context(), "k", limit, 1); !errors.Is(err, mcpgate.ErrInvalidLimit) {
			t.Errorf("Allow under %+v: error %v, want ErrInvalidLimit", limit, err)
		}
	}
}

// testConcurrent sends many requests at once on one key with the clock
// stopped: exactly the burst is admitted, however they interleave.
func testConcurrent(t *testing.T, l mcpgate.Limiter, _ *Clock) {
	limit := mcpgate.Limit{Rate: 50, Per: time.Minute, Burst: 50}
	const workers, each = 16, 20
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				d, err := l.Allow(t.Context(), "shared", limit, 1)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := admitted.Load(); got != int64(limit.Burst) {
		t.Errorf("%d concurrent requests admitted %d, want the burst, %d", workers*each, got, limit.Burst)
	}
}

// testSameAsXTimeRate plays one seeded sequence of requests and pauses
// against the limiter and against golang.org/x/time/rate's token bucket
// with the same rate and burst: every decision and every remaining count
// must agree. Pauses are multiples of 1/64 s, so that the token bucket's
// floating-point arithmetic is exact and cannot disagree at a boundary.
func testSameAsXTimeRate(t *testing.T, l mcpgate.Limiter, c *Clock) {
	for _, limit := range []mcpgate.Limit{
		{Rate: 8, Per: time.Second, Burst: 5},
		{Rate: 2, Per: time.Second, Burst: 3},
		{Rate: 16, Per: time.Second, Burst: 2},
	} {
		key := "x/time/rate " + limit.String()
		bucket := rate.NewLimiter(rate.Every(limit.Interval()), limit.Burst)
		rng := rand.New(rand.NewPCG(1, uint64(limit.Rate)))
		allowed := 0
		for i := range 400 {
			c.Advance(time.Duration(rng.IntN(13)) * time.Second / 64)
			cost := 1 + rng.IntN(limit.Burst)
			want := bucket.AllowN(c.Now(), cost)
			d := allow(t, l, key, limit, cost)
			if d.Allowed != want {
				t.Fatalf("%v, step %d, cost %d: allowed %v, x/time/rate %v", limit, i, cost, d.Allowed, want)
			}
			if tokens := int(math.Floor(bucket.TokensAt(c.Now()))); d.Remaining != tokens {
				t.Fatalf("%v, step %d, cost %d: remaining %d, x/time/rate %d", limit, i, cost, d.Remaining, tokens)
			}
			if d.Allowed {
				allowed++
			}
		}
		if allowed < 50 || allowed > 350 {
			t.Errorf("%v: %d of 400 allowed; the sequence does not exercise both outcomes", limit, allowed)
		}
	}
}

// testRealClock checks the limiter's own clock: workers hammer one key for
// a while, and the admitted count is the burst plus what the rate regained
// in the time measured around them, give or take one.
func testRealClock(t *testing.T, l mcpgate.Limiter) {
	limit := mcpgate.Limit{Rate: 50, Per: time.Second, Burst: 10}
	const workers, each = 8, 500
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	stop := start.Add(300 * time.Millisecond)
	for range workers {
		wg.Go(func() {
			for i := 0; i < each && time.Now().Before(stop); i++ {
				d, err := l.Allow(t.Context(), "real", limit, 1)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	most := int64(limit.Burst) + int64(elapsed/limit.Interval()) + 1
	if got := admitted.Load(); got < int64(limit.Burst) || got > most {
		t.Errorf("in %v, %d admitted; want between the burst (%d) and burst + rate × elapsed (%d)", elapsed, got, limit.Burst, most)
	}

	// Refill: once the key is spent, one interval later one more request
	// is admitted, and after the window the whole burst.
	if d := allow(t, l, "refill", limit, limit.Burst); !d.Allowed {
		t.Fatalf("whole burst of a new key: %+v, want allowed", d)
	}
	d := allow(t, l, "refill", limit, 1)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > limit.Interval() {
		t.Fatalf("spent key: %+v, want refused with RetryAfter within one interval (%v)", d, limit.Interval())
	}
	time.Sleep(d.RetryAfter + 5*time.Millisecond)
	if d := allow(t, l, "refill", limit, 1); !d.Allowed {
		t.Errorf("after RetryAfter: %+v, want allowed", d)
	}
	time.Sleep(limit.Window() + 5*time.Millisecond)
	if d := allow(t, l, "refill", limit, limit.Burst); !d.Allowed {
		t.Errorf("after the window: %+v, want the whole burst allowed", d)
	}
}
