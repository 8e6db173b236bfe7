package gateway

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/sqlite"
)

// TestAuditWriterLosesNothing records events before, during and after the
// writer shuts down, from many goroutines: every one reaches the store.
func TestAuditWriterLosesNothing(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := newAuditWriter(store, slog.New(slog.DiscardHandler))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() { a.run(runCtx); close(stopped) }()

	const writers, each = 8, 50
	start := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if w == 0 && i == each/2 {
					cancel() // shut down while the others keep recording
				}
				a.record(&mcpgate.AuditEvent{Time: time.Now().UTC(), Method: "ping", Decision: mcpgate.DecisionAllow, Status: 200})
			}
		}()
	}
	wg.Wait()
	<-stopped
	for range 10 {
		a.record(&mcpgate.AuditEvent{Time: time.Now().UTC(), Method: "late", Decision: mcpgate.DecisionAllow, Status: 200})
	}
	got, err := store.ListAudit(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := writers*each + 10; len(got) != want {
		t.Errorf("stored %d audit events, want %d", len(got), want)
	}
}
