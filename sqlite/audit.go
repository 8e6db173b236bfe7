package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// AppendAudit stores events in one transaction and sets their ID. A zero
// Time is set to the current time. If any event is nil, none is stored.
func (db *DB) AppendAudit(ctx context.Context, events ...*mcpgate.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if e == nil {
			return errors.New("sqlite: append audit: nil event")
		}
	}
	ids := make([]int64, len(events))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_events
			(at, request_id, subject, tenant, key_id, client_id, method, target, decision, status, latency_ns, remote)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, e := range events {
			at := e.Time
			if at.IsZero() {
				at = time.Now()
			}
			if err := stmt.QueryRowContext(ctx, at.UnixMicro(), e.RequestID, e.Subject, e.Tenant, e.KeyID,
				e.ClientID, e.Method, e.Target, e.Decision, e.Status, int64(e.Latency), e.Remote).Scan(&ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	// IDs are set only once the events are stored.
	for i, e := range events {
		e.ID = ids[i]
		if e.Time.IsZero() {
			e.Time = time.Now().UTC()
		}
	}
	return nil
}

// ListAudit returns events at or after since, oldest first, at most limit
// (0: no limit).
func (db *DB) ListAudit(ctx context.Context, since time.Time, limit int) ([]*mcpgate.AuditEvent, error) {
	if limit < 0 {
		return nil, fmt.Errorf("sqlite: list audit: negative limit %d", limit)
	}
	if limit == 0 {
		limit = -1 // no limit in SQLite
	}
	var from int64 = -1 << 63
	if !since.IsZero() {
		from = since.UnixMicro()
	}
	rows, err := db.db.QueryContext(ctx, `SELECT id, at, request_id, subject, tenant, key_id, client_id, method,
		target, decision, status, latency_ns, remote FROM audit_events WHERE at >= ? ORDER BY at, id LIMIT ?`, from, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var events []*mcpgate.AuditEvent
	for rows.Next() {
		var (
			e       mcpgate.AuditEvent
			at, lat int64
		)
		if err := rows.Scan(&e.ID, &at, &e.RequestID, &e.Subject, &e.Tenant, &e.KeyID, &e.ClientID, &e.Method,
			&e.Target, &e.Decision, &e.Status, &lat, &e.Remote); err != nil {
			return nil, fmt.Errorf("sqlite: list audit: %w", err)
		}
		e.Time = time.UnixMicro(at).UTC()
		e.Latency = time.Duration(lat)
		events = append(events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	return events, nil
}
