package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// PruneStore is what the retention suite needs of a store.
type PruneStore interface {
	mcpgate.Store
	mcpgate.OAuthStore
	mcpgate.Pruner
}

// RunPrune runs the conformance suite of mcpgate.Pruner. open must return
// a new, empty store; the suite does not close it.
func RunPrune(t *testing.T, open func(t *testing.T) PruneStore) {
	t.Helper()
	t.Run("Audit", func(t *testing.T) { testPruneAudit(t, open(t)) })
	t.Run("Changes", func(t *testing.T) { testPruneChanges(t, open(t)) })
	t.Run("Expired", func(t *testing.T) { testPruneExpired(t, open(t)) })
}

func testPruneAudit(t *testing.T, s PruneStore) {
	ctx := t.Context()
	var events []*mcpgate.AuditEvent
	for i := range 7 {
		events = append(events, newAudit(fmt.Sprintf("r%d", i), base.Add(time.Duration(i-4)*24*time.Hour)))
	}
	if err := s.AppendAudit(ctx, events...); err != nil {
		t.Fatal(err)
	}
	// Nothing before a zero time: the audit log is kept whole.
	if p, err := s.Prune(ctx, time.Time{}, time.Time{}); err != nil || p != (mcpgate.Pruned{}) {
		t.Fatalf("Prune(zero, zero) = %+v, %v; want nothing pruned", p, err)
	}
	p, err := s.Prune(ctx, base, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Audit != 4 {
		t.Errorf("Prune: %d audit events deleted, want 4", p.Audit)
	}
	// What mcpgate audit --since reads: the kept events, still in order.
	got, err := s.ListAudit(ctx, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.RequestID)
	}
	if fmt.Sprint(ids) != "[r4 r5 r6]" {
		t.Errorf("ListAudit after Prune = %v, want [r4 r5 r6]", ids)
	}
	since, err := s.ListAudit(ctx, base.Add(24*time.Hour), 0)
	if err != nil || len(since) != 2 || since[0].RequestID != "r5" {
		t.Errorf("ListAudit(since a day after) = %d events, %v; want r5, r6", len(since), err)
	}
}

func testPruneChanges(t *testing.T, s PruneStore) {
	ctx := t.Context()
	for i := range 3 {
		if _, err := s.PublishChange(ctx, mcpgate.ChangeKey, fmt.Sprintf("old%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // the store stamps changes with its own clock
	kept, err := s.PublishChange(ctx, mcpgate.ChangeKey, "kept")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Prune(ctx, kept.At, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Changes != 3 {
		t.Errorf("Prune: %d changes deleted, want 3", p.Changes)
	}
	got, err := s.ChangesSince(ctx, 0)
	if err != nil || len(got) != 1 || got[0].Seq != kept.Seq {
		t.Errorf("ChangesSince(0) after Prune = %+v, %v; want only %+v", got, err, kept)
	}
	// Sequence numbers go on from where they were, even with every older
	// change gone: a replica reading after kept.Seq misses nothing.
	if _, err := s.Prune(ctx, kept.At.Add(time.Hour), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if last, err := s.LastChange(ctx); err != nil || last != 0 && last != kept.Seq {
		t.Errorf("LastChange after pruning everything = %d, %v", last, err)
	}
	next, err := s.PublishChange(ctx, mcpgate.ChangeKey, "next")
	if err != nil {
		t.Fatal(err)
	}
	if next.Seq <= kept.Seq {
		t.Errorf("change after pruning has Seq %d, not above %d", next.Seq, kept.Seq)
	}
}

func testPruneExpired(t *testing.T, s PruneStore) {
	ctx := t.Context()
	// Created live first: creating a request or token deletes those that
	// expired long before it.
	for _, r := range []*mcpgate.AuthRequest{
		{ID: "live", CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute)},
		{ID: "old", CreatedAt: base.Add(-72 * time.Hour), ExpiresAt: base.Add(-71 * time.Hour)},
	} {
		r.ClientID, r.RedirectURI, r.CodeChallenge = "c", "https://c.example/cb", "ch"
		if err := s.CreateAuthRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, rt := range []*mcpgate.RefreshToken{
		{Hash: digest("live"), CreatedAt: base, ExpiresAt: base.Add(time.Hour)},
		{Hash: digest("old"), CreatedAt: base.Add(-72 * time.Hour), ExpiresAt: base.Add(-48 * time.Hour)},
	} {
		rt.Family, rt.ClientID, rt.Subject = "f", "c", "alice"
		if err := s.CreateRefreshToken(ctx, rt); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, newAudit("a", base.Add(-72*time.Hour))); err != nil {
		t.Fatal(err)
	}

	p, err := s.Prune(ctx, time.Time{}, base)
	if err != nil {
		t.Fatal(err)
	}
	if want := (mcpgate.Pruned{AuthRequests: 1, RefreshTokens: 1}); p != want {
		t.Errorf("Prune(zero, base) = %+v, want %+v", p, want)
	}
	if _, err := s.AuthRequest(ctx, "old"); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("expired AuthRequest after Prune: %v, want ErrNotFound", err)
	}
	if _, err := s.AuthRequest(ctx, "live"); err != nil {
		t.Errorf("live AuthRequest after Prune: %v", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, digest("old")); !errors.Is(err, mcpgate.ErrNotFound) {
		t.Errorf("expired refresh token after Prune: %v, want ErrNotFound", err)
	}
	if _, err := s.RefreshTokenByHash(ctx, digest("live")); err != nil {
		t.Errorf("live refresh token after Prune: %v", err)
	}
	if got, err := s.ListAudit(ctx, time.Time{}, 0); err != nil || len(got) != 1 {
		t.Errorf("audit after Prune(zero, …) = %d events, %v; want the one kept", len(got), err)
	}
}
