package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.ChangeNotifier = (*DB)(nil)

// changesChannel is the LISTEN/NOTIFY channel every change wakes. Channels
// are per database, not per schema, so the payload names the schema whose
// feed changed and a listener ignores other schemas' changes.
const changesChannel = "mcpgate_changes"

// ListenChanges listens for changes on a connection of its own (a pooled
// connection cannot keep a LISTEN) and calls wake once it listens, then
// for every change committed to this schema's feed by any process. It
// returns when ctx ends or the connection fails.
func (db *DB) ListenChanges(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return db.errorf("listen for changes: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return db.errorf("listen for changes: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return db.errorf("listen for changes: %w", err)
	}
	// Changes committed before LISTEN took effect were not notified.
	wake()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("postgres: %s: listen for changes: %w", db.name, err)
		}
		if n.Payload == schema {
			wake()
		}
	}
}
