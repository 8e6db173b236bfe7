package inmem_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/limitertest"
)

func TestLimiter(t *testing.T) {
	limitertest.Run(t, func(t *testing.T, now func() time.Time) mcpgate.Limiter {
		return inmem.New(&inmem.Options{Now: now})
	})
}

// Idle keys are dropped when new keys arrive after the sweep interval,
// and dropping them changes no decision.
func TestIdleKeysDropped(t *testing.T) {
	c := limitertest.NewClock()
	l := inmem.New(&inmem.Options{Now: c.Now, SweepInterval: time.Minute})
	limit := mcpgate.Limit{Rate: 10, Per: time.Minute, Burst: 10} // window 1m
	for i := range 1000 {
		mustAllow(t, l, fmt.Sprintf("old%d", i), limit, 1)
	}
	if got := l.Len(); got != 1000 {
		t.Fatalf("Len after 1000 keys = %d", got)
	}
	c.Advance(2 * time.Minute)
	for i := range 1000 {
		mustAllow(t, l, fmt.Sprintf("new%d", i), limit, 1)
	}
	if got := l.Len(); got != 1000 {
		t.Errorf("Len after the old keys went idle and 1000 new ones came = %d, want 1000", got)
	}
	// A key still within its window is kept.
	mustAllow(t, l, "busy", limit, 10)
	c.Advance(2 * time.Minute)
	for i := range 1000 {
		mustAllow(t, l, fmt.Sprintf("newer%d", i), limit, 1)
	}
	if d := mustAllow(t, l, "busy", limit, 1); d.Allowed != true {
		t.Errorf("busy key 2 minutes after spending its burst: %+v, want allowed", d)
	}
}

// The number of keys never exceeds MaxKeys, even when none is idle; the
// keys dropped to make room are those nearest their reset.
func TestMaxKeys(t *testing.T) {
	c := limitertest.NewClock()
	l := inmem.New(&inmem.Options{Now: c.Now, MaxKeys: 640})
	limit := mcpgate.Limit{Rate: 1, Per: time.Hour, Burst: 1}
	for i := range 10_000 {
		mustAllow(t, l, fmt.Sprintf("k%d", i), limit, 1)
		c.Advance(time.Millisecond)
		if got := l.Len(); got > 640 {
			t.Fatalf("after %d keys, Len = %d > MaxKeys", i+1, got)
		}
	}
	// The newest key is still limited.
	if d := mustAllow(t, l, "k9999", limit, 1); d.Allowed {
		t.Errorf("newest key was dropped: %+v", d)
	}
}

func mustAllow(t *testing.T, l mcpgate.Limiter, key string, limit mcpgate.Limit, cost int) mcpgate.Decision {
	t.Helper()
	d, err := l.Allow(t.Context(), key, limit, cost)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
