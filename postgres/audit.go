package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// AppendAudit stores events in one round trip and one transaction and sets
// their ID. A zero Time is set to the current time. If any event is nil,
// none is stored.
func (db *DB) AppendAudit(ctx context.Context, events ...*mcpgate.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	now := time.Now().UTC()
	for _, e := range events {
		if e == nil {
			return errors.New("postgres: append audit: nil event")
		}
		at := e.Time
		if at.IsZero() {
			at = now
		}
		b.Queue(`INSERT INTO audit_events
			(at, request_id, subject, tenant, key_id, client_id, method, target, decision, reason, status, latency_ns, remote)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			at, e.RequestID, e.Subject, e.Tenant, e.KeyID, e.ClientID, e.Method, e.Target, e.Decision,
			e.Reason, e.Status, int64(e.Latency), e.Remote)
	}
	// A batch outside a transaction runs as one implicit transaction.
	br := db.pool.SendBatch(ctx, b)
	ids := make([]int64, len(events))
	var err error
	for i := range events {
		if err = br.QueryRow().Scan(&ids[i]); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	for i, e := range events {
		e.ID = ids[i]
		if e.Time.IsZero() {
			e.Time = now
		}
	}
	return nil
}

// ListAudit returns events at or after since, oldest first, at most limit
// (0: no limit).
func (db *DB) ListAudit(ctx context.Context, since time.Time, limit int) ([]*mcpgate.AuditEvent, error) {
	return db.SearchAudit(ctx, mcpgate.AuditQuery{AuditFilter: mcpgate.AuditFilter{Since: since}, Limit: limit})
}

var _ mcpgate.AuditSearcher = (*DB)(nil)

// SearchAudit returns the events q selects: the oldest or, with q.Newest,
// the newest that match, in that order.
func (db *DB) SearchAudit(ctx context.Context, q mcpgate.AuditQuery) ([]*mcpgate.AuditEvent, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("postgres: list audit: negative limit %d", q.Limit)
	}
	var lim *int64 // NULL: no limit
	if q.Limit > 0 {
		l := int64(q.Limit)
		lim = &l
	}
	where, args := auditWhere(q.AuditFilter)
	order := "at, id"
	if q.Newest {
		order = "at DESC, id DESC"
	}
	args = append(args, lim)
	rows, err := db.pool.Query(ctx, `SELECT id, at, request_id, subject, tenant, key_id, client_id, method,
		target, decision, reason, status, latency_ns, remote FROM audit_events WHERE `+where+` ORDER BY `+order+
		fmt.Sprintf(" LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	events, err := pgx.CollectRows(rows, auditEventRow)
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit: %w", err)
	}
	return events, nil
}

// CountAuditMatches returns how many events f selects.
func (db *DB) CountAuditMatches(ctx context.Context, f mcpgate.AuditFilter) (int64, error) {
	where, args := auditWhere(f)
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count audit: %w", err)
	}
	return n, nil
}

// auditWhere is the condition selecting what f selects, with its
// arguments ($1, $2, …). The rows are read through the index on (at, id)
// until the limit is reached; an index per column would make every append
// of the gateway dearer.
func auditWhere(f mcpgate.AuditFilter) (string, []any) {
	where := []string{}
	var args []any
	if !f.Since.IsZero() {
		args = append(args, f.Since)
		where = append(where, "at >= $1")
	}
	for _, c := range []struct{ column, value string }{
		{"subject", f.Subject}, {"key_id", f.KeyID}, {"client_id", f.ClientID}, {"decision", f.Decision},
	} {
		if c.value != "" {
			args = append(args, c.value)
			where = append(where, fmt.Sprintf("%s = $%d", c.column, len(args)))
		}
	}
	if len(where) == 0 {
		return "true", nil
	}
	return strings.Join(where, " AND "), args
}

// auditEventRow reads one row of an audit query selecting the columns of
// SearchAudit, in order.
func auditEventRow(row pgx.CollectableRow) (*mcpgate.AuditEvent, error) {
	var (
		e   mcpgate.AuditEvent
		lat int64
	)
	if err := row.Scan(&e.ID, &e.Time, &e.RequestID, &e.Subject, &e.Tenant, &e.KeyID, &e.ClientID, &e.Method,
		&e.Target, &e.Decision, &e.Reason, &e.Status, &lat, &e.Remote); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	e.Latency = time.Duration(lat)
	return &e, nil
}
