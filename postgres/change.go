package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// PublishChange appends a change to the feed and returns it with Seq set.
func (db *DB) PublishChange(ctx context.Context, kind, id string) (mcpgate.Change, error) {
	var c mcpgate.Change
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		c, err = publishChange(ctx, tx, kind, id)
		return err
	})
	if err != nil {
		return mcpgate.Change{}, fmt.Errorf("postgres: publish change: %w", err)
	}
	return c, nil
}

// publishChange appends a change in tx, the transaction of the record it
// describes, and must be its last statement.
//
// An identity column alone would let a transaction that took seq n commit
// after one that took n+1; a poller that had already read n+1 would never
// see n. The EXCLUSIVE lock (which readers do not wait for) makes writers
// of the feed take turns until commit, so sequence numbers become visible
// in increasing order.
func publishChange(ctx context.Context, tx pgx.Tx, kind, id string) (mcpgate.Change, error) {
	if kind == "" {
		return mcpgate.Change{}, errors.New("change without kind")
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE changes IN EXCLUSIVE MODE"); err != nil {
		return mcpgate.Change{}, err
	}
	c := mcpgate.Change{Kind: kind, ID: id}
	// pg_notify in the same transaction: listeners (see ListenChanges) are
	// woken when, and only if, the change commits.
	err := tx.QueryRow(ctx, `WITH c AS (INSERT INTO changes (kind, record_id, at) VALUES ($1, $2, statement_timestamp()) RETURNING seq, at)
		SELECT c.seq, c.at FROM c, pg_notify('`+changesChannel+`', current_schema())`,
		kind, id).Scan(&c.Seq, &c.At)
	c.At = c.At.UTC()
	return c, err
}

// ChangesSince returns changes with Seq > after, oldest first.
func (db *DB) ChangesSince(ctx context.Context, after int64) ([]mcpgate.Change, error) {
	rows, err := db.pool.Query(ctx, "SELECT seq, kind, record_id, at FROM changes WHERE seq > $1 ORDER BY seq", after)
	if err != nil {
		return nil, fmt.Errorf("postgres: changes: %w", err)
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (mcpgate.Change, error) {
		var c mcpgate.Change
		err := row.Scan(&c.Seq, &c.Kind, &c.ID, &c.At)
		c.At = c.At.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: changes: %w", err)
	}
	return changes, nil
}

// LastChange returns the highest Seq, or 0.
func (db *DB) LastChange(ctx context.Context) (int64, error) {
	var seq int64
	if err := db.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM changes").Scan(&seq); err != nil {
		return 0, fmt.Errorf("postgres: last change: %w", err)
	}
	return seq, nil
}
