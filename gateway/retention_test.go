package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/sqlite"
)

// TestRetention runs a gateway whose clock is 100 days ahead: the audit
// events and changes of today are past a 90-day retention and go, those
// stamped on its clock stay.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	later := now.Add(100 * 24 * time.Hour)
	if err := store.AppendAudit(ctx,
		&mcpgate.AuditEvent{Time: now, RequestID: "old"},
		&mcpgate.AuditEvent{Time: later.Add(-time.Hour), RequestID: "kept"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PublishChange(ctx, mcpgate.ChangeKey, "k"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		retention time.Duration
		want      int
	}{{0, 2}, {90 * 24 * time.Hour, 1}} {
		gw, err := gateway.New(store, "http://example.com/mcp", &gateway.Options{
			Retention:     tc.retention,
			PruneInterval: 10 * time.Millisecond,
			Now:           func() time.Time { return later },
		})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		var got []*mcpgate.AuditEvent
		for {
			if got, err = store.ListAudit(ctx, time.Time{}, 0); err != nil {
				t.Fatal(err)
			}
			if len(got) == tc.want || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // several rounds: retention 0 must keep them
		got, _ = store.ListAudit(ctx, time.Time{}, 0)
		gw.Close()
		if len(got) != tc.want {
			t.Fatalf("retention %v: %d audit events kept, want %d", tc.retention, len(got), tc.want)
		}
		if tc.want == 1 && got[0].RequestID != "kept" {
			t.Errorf("retention %v: kept %q, want the recent one", tc.retention, got[0].RequestID)
		}
		changes, err := store.ChangesSince(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.want - 1; len(changes) != want {
			t.Errorf("retention %v: %d changes kept, want %d", tc.retention, len(changes), want)
		}
	}
}
