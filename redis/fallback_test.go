package redis_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/limitertest"
	"github.com/mcpgate/mcpgate/redis"
)

// flaky is a shared limiter that fails while err is set, and counts the
// decisions and pings it was asked for.
type flaky struct {
	mu     sync.Mutex
	err    error
	calls  atomic.Int64
	pings  atomic.Int64
	shared mcpgate.Limiter
}

func (f *flaky) fail(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }
func (f *flaky) failure() error { f.mu.Lock(); defer f.mu.Unlock(); return f.err }

func (f *flaky) Allow(ctx context.Context, key string, limit mcpgate.Limit, cost int) (mcpgate.Decision, error) {
	f.calls.Add(1)
	if err := f.failure(); err != nil {
		return mcpgate.Decision{Limit: limit}, err
	}
	return f.shared.Allow(ctx, key, limit, cost)
}

func (f *flaky) Ping(context.Context) error {
	f.pings.Add(1)
	return f.failure()
}

// transitions records OnTransition calls.
type transitions struct {
	mu     sync.Mutex
	events []bool
}

func (tr *transitions) record(healthy bool, _ error) {
	tr.mu.Lock()
	tr.events = append(tr.events, healthy)
	tr.mu.Unlock()
}

func (tr *transitions) get() []bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]bool(nil), tr.events...)
}

// waitHealthy makes requests (which start probes) until f is healthy
// again, for at most five seconds.
func waitHealthy(t *testing.T, f *redis.Fallback) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("the shared limiter was not found healthy again within 5s")
		}
		f.Allow(t.Context(), "trigger", mcpgate.Off, 1)
		time.Sleep(5 * time.Millisecond)
	}
}

var fivePerMinute = mcpgate.Limit{Rate: 5, Per: time.Minute, Burst: 5}

// Many requests noticing one outage make one transition, one log line and
// one report; while down, the shared limiter is not asked per request, and
// it is probed at most once per interval.
func TestFallbackTransitionsOnce(t *testing.T) {
	clock := limitertest.NewClock()
	shared := &flaky{shared: inmem.New(&inmem.Options{Now: clock.Now})}
	var logs bytes.Buffer
	var tr transitions
	f := redis.NewFallback(shared, inmem.New(&inmem.Options{Now: clock.Now}), &redis.FallbackOptions{
		ProbeInterval: time.Second,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		OnTransition:  tr.record,
		Now:           clock.Now,
	})

	shared.fail(errors.New("connection refused"))
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				d, err := f.Allow(t.Context(), "alice", fivePerMinute, 1)
				if err != nil {
					t.Errorf("under FailLocal: %v", err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := tr.get(); len(got) != 1 || got[0] {
		t.Fatalf("transitions after an outage = %v, want [false]", got)
	}
	if n := shared.calls.Load(); n > 8 {
		t.Errorf("the shared limiter was asked %d times during the outage, want at most one per worker in flight (8)", n)
	}
	if n := shared.pings.Load(); n != 0 {
		t.Errorf("probed %d times before the probe interval passed", n)
	}
	if n := admitted.Load(); n != 5 {
		t.Errorf("during the outage %d of 400 requests admitted, want the burst (5): limiting must go on locally", n)
	}

	// Still down a probe interval later: one probe, no transition.
	clock.Advance(time.Second)
	for range 20 {
		f.Allow(t.Context(), "alice", fivePerMinute, 1)
	}
	deadline := time.Now().Add(5 * time.Second)
	for shared.pings.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := shared.pings.Load(); n != 1 {
		t.Errorf("probes after one interval = %d, want 1", n)
	}

	shared.fail(nil)
	clock.Advance(time.Second)
	waitHealthy(t, f)
	if got := tr.get(); len(got) != 2 || !got[1] {
		t.Errorf("transitions after recovery = %v, want [false true]", got)
	}
	before := shared.calls.Load()
	if d, err := f.Allow(t.Context(), "bob", fivePerMinute, 1); err != nil || !d.Allowed || shared.calls.Load() != before+1 {
		t.Errorf("after recovery: %+v, %v; want a shared decision", d, err)
	}
	if lines := strings.Count(logs.String(), "\n"); lines != 2 {
		t.Errorf("%d log lines, want one per transition:\n%s", lines, logs.String())
	}
}

// A caller that gives up, or a limit that is malformed, says nothing
// about the shared limiter's health.
func TestFallbackIgnoresCallerErrors(t *testing.T) {
	shared := &flaky{shared: inmem.New(nil)}
	var tr transitions
	f := redis.NewFallback(shared, inmem.New(nil), &redis.FallbackOptions{OnTransition: tr.record, Logger: slog.New(slog.DiscardHandler)})

	if _, err := f.Allow(t.Context(), "k", fivePerMinute, 6); !errors.Is(err, mcpgate.ErrInvalidLimit) {
		t.Errorf("cost over burst: %v, want ErrInvalidLimit", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	shared.fail(context.Canceled)
	if _, err := f.Allow(ctx, "k", fivePerMinute, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller: %v, want context.Canceled", err)
	}
	if got := tr.get(); len(got) != 0 || !f.Healthy() {
		t.Errorf("transitions = %v, healthy %v; want none", got, f.Healthy())
	}
}

// Under FailDeny a limited request is refused with ErrLimiterUnavailable
// while the shared limiter is down; requests under Off still pass.
func TestFallbackDeny(t *testing.T) {
	shared := &flaky{shared: inmem.New(nil)}
	f := redis.NewFallback(shared, nil, &redis.FallbackOptions{Policy: redis.FailDeny, ProbeInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	shared.fail(errors.New("connection refused"))
	for range 3 {
		d, err := f.Allow(t.Context(), "k", fivePerMinute, 1)
		if !errors.Is(err, mcpgate.ErrLimiterUnavailable) || d.Allowed || d.RetryAfter != time.Hour {
			t.Errorf("under FailDeny while down: %+v, %v; want ErrLimiterUnavailable with RetryAfter 1h", d, err)
		}
	}
	if d, err := f.Allow(t.Context(), "k", mcpgate.Off, 1); err != nil || !d.Allowed {
		t.Errorf("Off under FailDeny while down: %+v, %v; want allowed", d, err)
	}
}

func TestParseFailurePolicy(t *testing.T) {
	for _, s := range []string{"local", "deny"} {
		if p, err := redis.ParseFailurePolicy(s); err != nil || string(p) != s {
			t.Errorf("ParseFailurePolicy(%q) = %q, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "Local", "allow", "open"} {
		if _, err := redis.ParseFailurePolicy(s); err == nil {
			t.Errorf("ParseFailurePolicy(%q) succeeded", s)
		}
	}
}
