package mcpgate

import (
	"context"
	"time"
)

// AuditCount is the number of audit events of one decision recorded in
// one interval of time.
type AuditCount struct {
	Start    time.Time // the interval's start, in UTC
	Decision string
	Count    int64
}

// OverviewStore answers an operator's overview of a gateway (the admin
// dashboard) from the store, each answer bounded so that a store with
// 100,000 keys or millions of audit events is never read whole. A limit
// below 1 is an error.
type OverviewStore interface {
	// LatestKeys returns at most limit keys, revoked or not, newest first
	// (the order of ListKeys).
	LatestKeys(ctx context.Context, limit int) ([]*APIKey, error)
	// LatestClients returns at most limit OAuth clients, revoked or not,
	// newest first (the order of ListClients).
	LatestClients(ctx context.Context, limit int) ([]*Client, error)
	// ActiveGrants returns at most limit unrevoked grants of every
	// subject, newest first.
	ActiveGrants(ctx context.Context, limit int) ([]*Grant, error)
	// CountAudit counts the events recorded at or after since and before
	// until, by decision, in intervals of step that start at since: an
	// event at t counts in the interval starting at since + n×step, n the
	// whole number of steps between since and t. Intervals with no event
	// of a decision are left out; the rest are ordered by Start, then by
	// Decision. It returns an error if step is not positive or until is
	// before since.
	CountAudit(ctx context.Context, since, until time.Time, step time.Duration) ([]AuditCount, error)
	// LatestAudit returns at most limit of the newest events whose
	// Decision is one of decisions, newest first.
	LatestAudit(ctx context.Context, decisions []string, limit int) ([]*AuditEvent, error)
}
