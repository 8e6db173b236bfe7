package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// PublishChange appends a change to the feed and returns it with Seq set.
func (db *DB) PublishChange(ctx context.Context, kind, id string) (mcpgate.Change, error) {
	// A plain statement is its own transaction; the write lock orders it.
	var c mcpgate.Change
	err := db.write(ctx, func() (err error) {
		c, err = publishChange(ctx, db.db, kind, id)
		return err
	})
	if err != nil {
		return mcpgate.Change{}, fmt.Errorf("sqlite: publish change: %w", err)
	}
	return c, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// publishChange appends a change through q, a *sql.Tx when the change must
// commit with the record it describes. Because SQLite has one writer at a
// time, sequence numbers become visible in increasing order: a reader that
// has seen seq n will never later find a new change below n.
func publishChange(ctx context.Context, q queryRower, kind, id string) (mcpgate.Change, error) {
	if kind == "" {
		return mcpgate.Change{}, errors.New("change without kind")
	}
	c := mcpgate.Change{Kind: kind, ID: id, At: time.Now().UTC().Truncate(time.Microsecond)}
	err := q.QueryRowContext(ctx, "INSERT INTO changes (kind, record_id, at) VALUES (?, ?, ?) RETURNING seq",
		kind, id, c.At.UnixMicro()).Scan(&c.Seq)
	return c, err
}

// ChangesSince returns changes with Seq > after, oldest first.
func (db *DB) ChangesSince(ctx context.Context, after int64) ([]mcpgate.Change, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT seq, kind, record_id, at FROM changes WHERE seq > ? ORDER BY seq", after)
	if err != nil {
		return nil, fmt.Errorf("sqlite: changes: %w", err)
	}
	defer rows.Close()
	var changes []mcpgate.Change
	for rows.Next() {
		var (
			c  mcpgate.Change
			at int64
		)
		if err := rows.Scan(&c.Seq, &c.Kind, &c.ID, &at); err != nil {
			return nil, fmt.Errorf("sqlite: changes: %w", err)
		}
		c.At = time.UnixMicro(at).UTC()
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: changes: %w", err)
	}
	return changes, nil
}

// LastChange returns the highest Seq, or 0.
func (db *DB) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.db.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM changes").Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlite: last change: %w", err)
	}
	return seq, nil
}
