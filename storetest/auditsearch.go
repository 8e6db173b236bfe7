package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// AuditSearchStore is what the audit search suite needs of a store.
type AuditSearchStore interface {
	mcpgate.AuditStore
	mcpgate.AuditSearcher
}

// RunAuditSearch runs the conformance suite of mcpgate.AuditSearcher.
// open must return a new, empty store; the suite does not close it.
func RunAuditSearch(t *testing.T, open func(t *testing.T) AuditSearchStore) {
	t.Helper()
	t.Run("Filters", func(t *testing.T) { testAuditSearch(t, open(t)) })
}

func testAuditSearch(t *testing.T, s AuditSearchStore) {
	ctx := t.Context()
	// Twelve events a second apart, appended newest first so that the
	// store cannot rely on insertion order; r5 and r6 share a time.
	subjects := []string{"alice", "bob", "carol"}
	keys := []string{"k1", "k2", ""}
	clients := []string{"", "c1", "c2", "c3"}
	decisions := []string{mcpgate.DecisionAllow, mcpgate.DecisionAllow, mcpgate.DecisionDeny, mcpgate.DecisionUnauthenticated}
	var events []*mcpgate.AuditEvent
	for i := range 12 {
		e := newAudit(fmt.Sprintf("r%d", i), base.Add(time.Duration(i)*time.Second))
		e.Subject, e.KeyID, e.ClientID, e.Decision = subjects[i%3], keys[i%3], clients[i%4], decisions[i%4]
		events = append(events, e)
	}
	events[6].Time = events[5].Time
	for i := len(events) - 1; i >= 0; i-- {
		if err := s.AppendAudit(ctx, events[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The order of the log: by time, then by id (r6 was appended first).
	order := []string{"r0", "r1", "r2", "r3", "r4", "r6", "r5", "r7", "r8", "r9", "r10", "r11"}
	byID := map[string]*mcpgate.AuditEvent{}
	for _, e := range events {
		byID[e.RequestID] = e
	}
	matching := func(f mcpgate.AuditFilter) []string {
		var ids []string
		for _, id := range order {
			e := byID[id]
			if (f.Since.IsZero() || !e.Time.Before(f.Since)) && (f.Subject == "" || e.Subject == f.Subject) &&
				(f.KeyID == "" || e.KeyID == f.KeyID) && (f.ClientID == "" || e.ClientID == f.ClientID) &&
				(f.Decision == "" || e.Decision == f.Decision) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	filters := []struct {
		name string
		f    mcpgate.AuditFilter
	}{
		{"none", mcpgate.AuditFilter{}},
		{"since", mcpgate.AuditFilter{Since: events[5].Time}},
		{"subject", mcpgate.AuditFilter{Subject: "bob"}},
		{"key", mcpgate.AuditFilter{KeyID: "k1"}},
		{"client", mcpgate.AuditFilter{ClientID: "c2"}},
		{"decision", mcpgate.AuditFilter{Decision: mcpgate.DecisionDeny}},
		{"subject and decision", mcpgate.AuditFilter{Subject: "alice", Decision: mcpgate.DecisionAllow}},
		{"since, key and client", mcpgate.AuditFilter{Since: events[1].Time, KeyID: "k2", ClientID: "c1"}},
		{"since excludes", mcpgate.AuditFilter{Since: events[2].Time, KeyID: "k2", ClientID: "c1"}},
		{"nothing matches", mcpgate.AuditFilter{Subject: "mallory"}},
	}
	for _, tt := range filters {
		want := matching(tt.f)
		if !strings.Contains(tt.name, "nothing") && tt.name != "since excludes" && len(want) == 0 {
			t.Fatalf("%s: the fixture selects nothing", tt.name)
		}
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.CountAuditMatches(ctx, tt.f)
			if err != nil || n != int64(len(want)) {
				t.Errorf("CountAuditMatches = %d, %v; want %d", n, err, len(want))
			}
			newest := slices.Clone(want)
			slices.Reverse(newest)
			for _, q := range []struct {
				limit  int
				newest bool
				want   []string
			}{
				{0, false, want},
				{0, true, newest},
				{2, false, want[:min(2, len(want))]},
				{2, true, newest[:min(2, len(newest))]},
			} {
				got, err := s.SearchAudit(ctx, mcpgate.AuditQuery{AuditFilter: tt.f, Limit: q.limit, Newest: q.newest})
				if err != nil {
					t.Fatalf("SearchAudit: %v", err)
				}
				var ids []string
				for _, e := range got {
					ids = append(ids, e.RequestID)
					if w := byID[e.RequestID]; w == nil || e.Subject != w.Subject || e.KeyID != w.KeyID || e.ClientID != w.ClientID ||
						e.Decision != w.Decision || !sameTime(e.Time, w.Time) {
						t.Errorf("SearchAudit returned %+v, stored as %+v", e, w)
					}
				}
				if !slices.Equal(ids, q.want) {
					t.Errorf("SearchAudit(limit %d, newest %v) = %v, want %v", q.limit, q.newest, ids, q.want)
				}
			}
		})
	}
	if _, err := s.SearchAudit(ctx, mcpgate.AuditQuery{Limit: -1}); err == nil {
		t.Error("SearchAudit with limit -1 succeeded")
	}
}
