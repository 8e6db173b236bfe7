package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.Pruner = (*DB)(nil)

// pruneBatch is how many rows one delete removes: each batch is a short
// write, so requests' audit events and revocations are not held up
// behind a delete of millions of rows.
const pruneBatch = 5000

// Prune deletes audit events and changes recorded before before, and
// authorization requests, refresh tokens and sign-in sessions that
// expired before expired; a zero time skips that part. Each table is
// deleted from in batches.
// SQLite lets one writer in at a time, so concurrent calls take turns.
func (db *DB) Prune(ctx context.Context, before, expired time.Time) (mcpgate.Pruned, error) {
	var p mcpgate.Pruned
	steps := []struct {
		n     *int64
		what  string
		query string
		at    time.Time
	}{
		{&p.Audit, "audit events", "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? ORDER BY at LIMIT ?)", before},
		{&p.Changes, "changes", "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < ? ORDER BY seq LIMIT ?)", before},
		{&p.AuthRequests, "authorization requests", "DELETE FROM oauth_auth_requests WHERE id IN (SELECT id FROM oauth_auth_requests WHERE expires_at < ? LIMIT ?)", expired},
		{&p.RefreshTokens, "refresh tokens", "DELETE FROM oauth_refresh_tokens WHERE hash IN (SELECT hash FROM oauth_refresh_tokens WHERE expires_at < ? LIMIT ?)", expired},
		{&p.SigninSessions, "sign-in sessions", "DELETE FROM signin_sessions WHERE id_hash IN (SELECT id_hash FROM signin_sessions WHERE expires_at < ? LIMIT ?)", expired},
	}
	for _, s := range steps {
		if s.at.IsZero() {
			continue
		}
		for {
			var n int64
			err := db.write(ctx, func() error {
				res, err := db.db.ExecContext(ctx, s.query, s.at.UnixMicro(), pruneBatch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return p, fmt.Errorf("sqlite: prune %s: %w", s.what, err)
			}
			*s.n += n
			if n < pruneBatch {
				break
			}
		}
	}
	return p, nil
}
