package mcpgate

import (
	"context"
	"time"
)

// AuditFilter selects audit events. Empty fields match every event.
type AuditFilter struct {
	Since    time.Time // at or after; zero: from the first
	Subject  string
	KeyID    string
	ClientID string
	Decision string // one of the Decision constants
}

// AuditQuery is an AuditFilter with an order and a bound.
type AuditQuery struct {
	AuditFilter
	// Limit is the most events returned; 0: no limit.
	Limit int
	// Newest picks the newest events that match rather than the oldest.
	// Either way the events are returned in the order picked: newest
	// first when Newest is set, oldest first otherwise.
	Newest bool
}

// AuditSearcher queries audit events in the store, so that filters and
// bounds cost an indexed lookup rather than reading the whole log.
type AuditSearcher interface {
	// SearchAudit returns the events q selects. It returns an error for a
	// negative limit.
	SearchAudit(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
	// CountAuditMatches returns how many events f selects.
	CountAuditMatches(ctx context.Context, f AuditFilter) (int64, error)
}

// Decisions returns every Decision constant, for checking input.
func Decisions() []string {
	return []string{DecisionAllow, DecisionDeny, DecisionUnauthenticated, DecisionRateLimited,
		DecisionTooLarge, DecisionBadRequest, DecisionError}
}
