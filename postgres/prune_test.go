package postgres_test

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestPrune(t *testing.T) {
	storetest.RunPrune(t, func(t *testing.T) storetest.PruneStore {
		db := mustOpen(t, testURL(t))
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestPruneOneAtATime checks that a replica finding another one pruning
// the same schema leaves it alone.
func TestPruneOneAtATime(t *testing.T) {
	url := testURL(t)
	db := mustOpen(t, url)
	defer db.Close()
	ctx := context.Background()
	if err := db.AppendAudit(ctx, &mcpgate.AuditEvent{Time: time.Now().Add(-time.Hour), RequestID: "r"}); err != nil {
		t.Fatal(err)
	}
	// Another replica holds the lock.
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	schema := url[strings.LastIndex(url, "=")+1:]
	h := fnv.New64a()
	h.Write([]byte("mcpgate prune " + schema))
	if _, err := other.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(h.Sum64())); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Prune(ctx, time.Now(), time.Time{}); !errors.Is(err, mcpgate.ErrPruneBusy) {
		t.Fatalf("Prune while another holds the lock = %v, want ErrPruneBusy", err)
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}
	p, err := db.Prune(ctx, time.Now(), time.Time{})
	if err != nil || p.Audit != 1 {
		t.Fatalf("Prune after the lock is free = %+v, %v; want 1 audit event", p, err)
	}
}
