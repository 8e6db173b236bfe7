package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// The admin dashboard's bounded reads of keys, grants and audit events.

var _ mcpgate.OverviewStore = (*DB)(nil)

// LatestKeys returns at most limit keys, newest first.
func (db *DB) LatestKeys(ctx context.Context, limit int) ([]*mcpgate.APIKey, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: latest keys: limit %d is not positive", limit)
	}
	return queryAll(ctx, db, "latest keys", scanKey, selectKey+" ORDER BY created_at DESC, id DESC LIMIT $1", limit)
}

// LatestClients returns at most limit clients, newest first.
func (db *DB) LatestClients(ctx context.Context, limit int) ([]*mcpgate.Client, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: latest clients: limit %d is not positive", limit)
	}
	return queryAll(ctx, db, "latest clients", scanClient, selectClient+" ORDER BY created_at DESC, id DESC LIMIT $1", limit)
}

// ActiveGrants returns at most limit unrevoked grants, newest first.
func (db *DB) ActiveGrants(ctx context.Context, limit int) ([]*mcpgate.Grant, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: active grants: limit %d is not positive", limit)
	}
	return queryAll(ctx, db, "active grants", scanGrant, selectGrant+" WHERE revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $1", limit)
}

// CountAudit counts events by decision in intervals of step from since to
// until. It reads the (at, id) index over the range only.
func (db *DB) CountAudit(ctx context.Context, since, until time.Time, step time.Duration) ([]mcpgate.AuditCount, error) {
	switch {
	case step < time.Microsecond:
		return nil, fmt.Errorf("postgres: count audit: step %v is less than a microsecond", step)
	case until.Before(since):
		return nil, errors.New("postgres: count audit: until is before since")
	}
	stepUS := step.Microseconds()
	// extract(epoch …) of an interval is exact (numeric), and timestamptz
	// keeps microseconds, so n is exact too.
	rows, err := db.pool.Query(ctx, `SELECT floor(extract(epoch FROM at - $1::timestamptz) * 1000000 / $2)::bigint AS n,
		decision, count(*) FROM audit_events WHERE at >= $1 AND at < $3 GROUP BY n, decision ORDER BY n, decision`,
		since, stepUS, until)
	if err != nil {
		return nil, fmt.Errorf("postgres: count audit: %w", err)
	}
	from := since.UnixMicro()
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (mcpgate.AuditCount, error) {
		var (
			n int64
			c mcpgate.AuditCount
		)
		if err := row.Scan(&n, &c.Decision, &c.Count); err != nil {
			return c, err
		}
		c.Start = time.UnixMicro(from + n*stepUS).UTC()
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: count audit: %w", err)
	}
	return out, nil
}

// LatestAudit returns at most limit of the newest events with one of
// decisions, newest first.
func (db *DB) LatestAudit(ctx context.Context, decisions []string, limit int) ([]*mcpgate.AuditEvent, error) {
	if limit < 1 {
		return nil, fmt.Errorf("postgres: latest audit: limit %d is not positive", limit)
	}
	if len(decisions) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, at, request_id, subject, tenant, key_id, client_id, method,
		target, decision, reason, status, latency_ns, remote FROM audit_events
		WHERE decision = ANY($1) ORDER BY at DESC, id DESC LIMIT $2`, decisions, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest audit: %w", err)
	}
	events, err := pgx.CollectRows(rows, auditEventRow)
	if err != nil {
		return nil, fmt.Errorf("postgres: latest audit: %w", err)
	}
	return events, nil
}
