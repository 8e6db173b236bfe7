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
	return db.SearchAudit(ctx, mcpgate.AuditQuery{AuditFilter: mcpgate.AuditFilter{Since: since}, Limit: limit})
}

var _ mcpgate.AuditSearcher = (*DB)(nil)

// SearchAudit returns the events q selects: the oldest or, with q.Newest,
// the newest that match, in that order.
func (db *DB) SearchAudit(ctx context.Context, q mcpgate.AuditQuery) ([]*mcpgate.AuditEvent, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("sqlite: list audit: negative limit %d", q.Limit)
	}
	query, args := auditSearchSQL(q)
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	return scanAuditEvents(rows, "list audit")
}

// auditSearchSQL is the query of SearchAudit, with its arguments.
func auditSearchSQL(q mcpgate.AuditQuery) (string, []any) {
	limit := q.Limit
	if limit == 0 {
		limit = -1 // no limit in SQLite
	}
	where, args := auditWhere(q.AuditFilter)
	order := "at, id"
	if q.Newest {
		order = "at DESC, id DESC"
	}
	return `SELECT id, at, request_id, subject, tenant, key_id, client_id, method,
		target, decision, reason, status, latency_ns, remote FROM audit_events WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ?`,
		append(args, limit)
}

// CountAuditMatches returns how many events f selects.
func (db *DB) CountAuditMatches(ctx context.Context, f mcpgate.AuditFilter) (int64, error) {
	where, args := auditWhere(f)
	var n int64
	if err := db.db.QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count audit: %w", err)
	}
	return n, nil
}

// auditWhere is the condition selecting what f selects, with its
// arguments. The rows are read through the index on (at, id), in the order
// asked for, until the limit is reached: the newest events of a subject
// cost as many rows as lie between them and now. An index per column would
// make every append of the gateway several times dearer.
func auditWhere(f mcpgate.AuditFilter) (string, []any) {
	var from int64 = -1 << 63
	if !f.Since.IsZero() {
		from = f.Since.UnixMicro()
	}
	where := []string{"at >= ?"}
	args := []any{from}
	for _, c := range []struct{ column, value string }{
		{"subject", f.Subject}, {"key_id", f.KeyID}, {"client_id", f.ClientID}, {"decision", f.Decision},
	} {
		if c.value != "" {
			where = append(where, c.column+" = ?")
			args = append(args, c.value)
		}
	}
	return strings.Join(where, " AND "), args
}

// scanAuditEvents reads the rows of an audit query selecting the columns
// of SearchAudit, in order; op names the query in errors.
func scanAuditEvents(rows *sql.Rows, op string) ([]*mcpgate.AuditEvent, error) {
	var events []*mcpgate.AuditEvent
	for rows.Next() {
		var (
			e       mcpgate.AuditEvent
			at, lat int64
		)
		if err := rows.Scan(&e.ID, &at, &e.RequestID, &e.Subject, &e.Tenant, &e.KeyID, &e.ClientID, &e.Method,
			&e.Target, &e.Decision, &e.Reason, &e.Status, &lat, &e.Remote); err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		e.Time = time.UnixMicro(at).UTC()
		e.Latency = time.Duration(lat)
		events = append(events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return events, nil
}
