package sqlite

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// TestAuditSearchPlan: every search reads the time index in the order
// asked for and stops at its limit, rather than sorting the whole table.
func TestAuditSearchPlan(t *testing.T) {
	db, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	since := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		f     mcpgate.AuditFilter
		index string
	}{
		{mcpgate.AuditFilter{Subject: "alice"}, "audit_events_at"},
		{mcpgate.AuditFilter{Subject: "alice", Since: since, Decision: mcpgate.DecisionDeny}, "audit_events_at"},
		{mcpgate.AuditFilter{KeyID: "k1"}, "audit_events_at"},
		{mcpgate.AuditFilter{ClientID: "c1", Since: since}, "audit_events_at"},
		{mcpgate.AuditFilter{Since: since}, "audit_events_at"},
		{mcpgate.AuditFilter{}, "audit_events_at"},
	} {
		query, args := auditSearchSQL(mcpgate.AuditQuery{AuditFilter: tc.f, Limit: 50, Newest: true})
		rows, err := db.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "INDEX "+tc.index) || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%+v: plan %q, want %s and no sort", tc.f, got, tc.index)
		}
	}
}
