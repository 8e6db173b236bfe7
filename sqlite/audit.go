package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
		// Many rows per INSERT: a statement per event costs more than the
		// row itself. Rows of one statement get consecutive ids.
		for start := 0; start < len(events); start += auditRowsPerInsert {
			chunk := events[start:min(start+auditRowsPerInsert, len(events))]
			args := make([]any, 0, len(chunk)*auditColumns)
			for _, e := range chunk {
				at := e.Time
				if at.IsZero() {
					at = time.Now()
				}
				args = append(args, at.UnixMicro(), e.RequestID, e.Subject, e.Tenant, e.KeyID,
					e.ClientID, e.Method, e.Target, e.Decision, e.Reason, e.Status, int64(e.Latency), e.Remote)
			}
			res, err := tx.ExecContext(ctx, insertAuditSQL(len(chunk)), args...)
			if err != nil {
				return err
			}
			last, err := res.LastInsertId()
			if err != nil {
				return err
			}
			for i := range chunk {
				ids[start+i] = last - int64(len(chunk)-1-i)
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

const (
	auditColumns       = 13
	auditRowsPerInsert = 64 // 832 parameters, well under SQLite's limit
)

// fullAuditInsert is the INSERT of a whole chunk, built once.
var fullAuditInsert = buildAuditInsert(auditRowsPerInsert)

func insertAuditSQL(rows int) string {
	if rows == auditRowsPerInsert {
		return fullAuditInsert
	}
	return buildAuditInsert(rows)
}

func buildAuditInsert(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO audit_events
		(at, request_id, subject, tenant, key_id, client_id, method, target, decision, reason, status, latency_ns, remote) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
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
		target, decision, reason, status, latency_ns, remote FROM audit_events WHERE at >= ? ORDER BY at, id LIMIT ?`, from, limit)
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
			&e.Target, &e.Decision, &e.Reason, &e.Status, &lat, &e.Remote); err != nil {
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
