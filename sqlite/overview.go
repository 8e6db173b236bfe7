package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
)

// The admin dashboard's bounded reads of keys, grants and audit events.

var _ mcpgate.OverviewStore = (*DB)(nil)

// LatestKeys returns at most limit keys, newest first.
func (db *DB) LatestKeys(ctx context.Context, limit int) ([]*mcpgate.APIKey, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: latest keys: limit %d is not positive", limit)
	}
	return queryAll(ctx, db, "latest keys", scanKey, selectKey+" ORDER BY created_at DESC, id DESC LIMIT ?", limit)
}

// LatestClients returns at most limit clients, newest first.
func (db *DB) LatestClients(ctx context.Context, limit int) ([]*mcpgate.Client, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: latest clients: limit %d is not positive", limit)
	}
	return queryAll(ctx, db, "latest clients", scanClient, selectClient+" ORDER BY created_at DESC, id DESC LIMIT ?", limit)
}

// ActiveGrants returns at most limit unrevoked grants, newest first.
func (db *DB) ActiveGrants(ctx context.Context, limit int) ([]*mcpgate.Grant, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: active grants: limit %d is not positive", limit)
	}
	return queryAll(ctx, db, "active grants", scanGrant, selectGrant+" WHERE revoked_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?", limit)
}

// CountAudit counts events by decision in intervals of step from since to
// until. It reads the (at, id) index over the range only.
func (db *DB) CountAudit(ctx context.Context, since, until time.Time, step time.Duration) ([]mcpgate.AuditCount, error) {
	if err := checkCountAudit(since, until, step); err != nil {
		return nil, fmt.Errorf("sqlite: count audit: %w", err)
	}
	from, stepUS := since.UnixMicro(), step.Microseconds()
	// Integer division of a non-negative offset is the floor.
	rows, err := db.db.QueryContext(ctx, `SELECT (at - ?1) / ?2 AS n, decision, count(*) FROM audit_events
		WHERE at >= ?1 AND at < ?3 GROUP BY n, decision ORDER BY n, decision`, from, stepUS, until.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlite: count audit: %w", err)
	}
	defer rows.Close()
	var out []mcpgate.AuditCount
	for rows.Next() {
		var (
			n int64
			c mcpgate.AuditCount
		)
		if err := rows.Scan(&n, &c.Decision, &c.Count); err != nil {
			return nil, fmt.Errorf("sqlite: count audit: %w", err)
		}
		c.Start = time.UnixMicro(from + n*stepUS).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count audit: %w", err)
	}
	return out, nil
}

// checkCountAudit refuses what CountAudit cannot answer. A step under a
// microsecond would be zero in the stores' units.
func checkCountAudit(since, until time.Time, step time.Duration) error {
	switch {
	case step < time.Microsecond:
		return fmt.Errorf("step %v is less than a microsecond", step)
	case until.Before(since):
		return errors.New("until is before since")
	}
	return nil
}

// LatestAudit returns at most limit of the newest events with one of
// decisions, newest first.
func (db *DB) LatestAudit(ctx context.Context, decisions []string, limit int) ([]*mcpgate.AuditEvent, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: latest audit: limit %d is not positive", limit)
	}
	if len(decisions) == 0 {
		return nil, nil
	}
	args := make([]any, 0, len(decisions)+1)
	for _, d := range decisions {
		args = append(args, d)
	}
	args = append(args, limit)
	rows, err := db.db.QueryContext(ctx, `SELECT id, at, request_id, subject, tenant, key_id, client_id, method,
		target, decision, reason, status, latency_ns, remote FROM audit_events
		WHERE decision IN (?`+strings.Repeat(",?", len(decisions)-1)+`) ORDER BY at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: latest audit: %w", err)
	}
	defer rows.Close()
	return scanAuditEvents(rows, "latest audit")
}
