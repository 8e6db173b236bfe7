package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.Pruner = (*DB)(nil)

// pruneBatch is how many rows one delete removes: each batch is a short
// transaction, so no lock is held for long and a replica stopped half-way
// leaves a consistent table.
const pruneBatch = 5000

// Prune deletes audit events and changes recorded before before, and
// authorization requests, refresh tokens and sign-in sessions that
// expired before expired; a zero time skips that part. Each table is
// deleted from in batches.
//
// One replica prunes a schema at a time: Prune holds an advisory lock for
// the schema while it works, and returns mcpgate.ErrPruneBusy at once if
// another process holds it.
func (db *DB) Prune(ctx context.Context, before, expired time.Time) (mcpgate.Pruned, error) {
	var p mcpgate.Pruned
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return p, db.errorf("prune: %w", err)
	}
	defer conn.Release()
	var schema string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return p, db.errorf("prune: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("mcpgate prune " + schema))
	lockID := int64(h.Sum64())
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockID).Scan(&locked); err != nil {
		return p, db.errorf("prune: %w", err)
	}
	if !locked {
		return p, mcpgate.ErrPruneBusy
	}
	// A session lock: released here, or by the server when the connection
	// ends, whichever comes first.
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockID)

	steps := []struct {
		n     *int64
		what  string
		query string
		at    time.Time
	}{
		{&p.Audit, "audit events", "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2)", before},
		{&p.Changes, "changes", "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < $1 ORDER BY seq LIMIT $2)", before},
		{&p.AuthRequests, "authorization requests", "DELETE FROM oauth_auth_requests WHERE id IN (SELECT id FROM oauth_auth_requests WHERE expires_at < $1 LIMIT $2)", expired},
		{&p.RefreshTokens, "refresh tokens", "DELETE FROM oauth_refresh_tokens WHERE hash IN (SELECT hash FROM oauth_refresh_tokens WHERE expires_at < $1 LIMIT $2)", expired},
		{&p.SigninSessions, "sign-in sessions", "DELETE FROM signin_sessions WHERE id_hash IN (SELECT id_hash FROM signin_sessions WHERE expires_at < $1 LIMIT $2)", expired},
	}
	for _, s := range steps {
		if s.at.IsZero() {
			continue
		}
		for {
			tag, err := conn.Exec(ctx, s.query, s.at, int64(pruneBatch))
			if err != nil {
				return p, fmt.Errorf("postgres: prune %s: %w", s.what, err)
			}
			*s.n += tag.RowsAffected()
			if tag.RowsAffected() < pruneBatch {
				break
			}
		}
	}
	return p, nil
}
