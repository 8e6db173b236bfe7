package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Users' grants to OAuth clients: table oauth_grants of
// migrations/00002_oauth.sql and 00004_grant_key.sql.

var (
	_ mcpgate.GrantStore   = (*DB)(nil)
	_ mcpgate.ConsentStore = (*DB)(nil)
)

const selectGrant = `SELECT id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id FROM oauth_grants`

func scanGrant(row scanner) (*mcpgate.Grant, error) {
	var (
		g                 mcpgate.Grant
		scopes            string
		created           int64
		lastUsed, revoked sql.NullInt64
	)
	if err := row.Scan(&g.ID, &g.Subject, &g.Tenant, &g.ClientID, &scopes, &g.Resource, &created, &lastUsed, &revoked, &g.KeyID); err != nil {
		return nil, err
	}
	var err error
	if g.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("grant %q: %w", g.ID, err)
	}
	g.CreatedAt = time.UnixMicro(created).UTC()
	g.LastUsed = fromMicros(lastUsed)
	g.RevokedAt = fromMicros(revoked)
	return &g, nil
}

// SaveGrant creates g, or updates Scopes and LastUsed of an existing one.
func (db *DB) SaveGrant(ctx context.Context, g *mcpgate.Grant) error {
	g.CreatedAt = nowIfZero(g.CreatedAt)
	_, err := db.db.ExecContext(ctx, `INSERT INTO oauth_grants
		(id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET scopes = excluded.scopes, last_used = excluded.last_used`,
		g.ID, g.Subject, g.Tenant, g.ClientID, encodeList(g.Scopes), g.Resource, micro(g.CreatedAt), micros(g.LastUsed), micros(g.RevokedAt), g.KeyID)
	if err != nil {
		return fmt.Errorf("sqlite: save grant: %w", err)
	}
	return nil
}

// ListGrants returns the subject's active grants, newest first.
func (db *DB) ListGrants(ctx context.Context, subject string) ([]*mcpgate.Grant, error) {
	return queryAll(ctx, db, "list grants", scanGrant, selectGrant+" WHERE subject = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC", subject)
}

// Grant returns a grant by id, revoked or not, or mcpgate.ErrNotFound.
func (db *DB) Grant(ctx context.Context, id string) (*mcpgate.Grant, error) {
	g, err := scanGrant(db.db.QueryRowContext(ctx, selectGrant+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: grant %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: grant %q: %w", id, err)
	}
	return g, nil
}

// ActiveGrant returns the newest unrevoked grant of subject to client for
// resource, or mcpgate.ErrNotFound.
func (db *DB) ActiveGrant(ctx context.Context, subject, clientID, resource string) (*mcpgate.Grant, error) {
	g, err := scanGrant(db.db.QueryRowContext(ctx, selectGrant+
		" WHERE subject = ? AND client_id = ? AND resource = ? AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
		subject, clientID, resource))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: active grant: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: active grant: %w", err)
	}
	return g, nil
}

// RevokeGrant revokes the subject's grant and its refresh tokens and
// publishes a ChangeGrant change, in one transaction. A grant of another
// subject is mcpgate.ErrNotFound.
func (db *DB) RevokeGrant(ctx context.Context, subject, id string, at time.Time) error {
	return db.revokeGrant(ctx, &subject, id, at)
}

// RevokeGrantByID revokes a grant whatever its subject, like RevokeGrant.
func (db *DB) RevokeGrantByID(ctx context.Context, id string, at time.Time) error {
	return db.revokeGrant(ctx, nil, id, at)
}

func (db *DB) revokeGrant(ctx context.Context, subject *string, id string, at time.Time) error {
	at = nowIfZero(at)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		q := "UPDATE oauth_grants SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?"
		args := []any{micro(at), id}
		if subject != nil {
			q += " AND subject = ?"
			args = append(args, *subject)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return mcpgate.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", micro(at), id); err != nil {
			return err
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeGrant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke grant %q: %w", id, err)
	}
	return nil
}
