package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Users' grants to OAuth clients: table oauth_grants of
// migrations/00002_oauth.sql and 00004_grant_key.sql.

var (
	_ mcpgate.GrantStore   = (*DB)(nil)
	_ mcpgate.ConsentStore = (*DB)(nil)
)

const selectGrant = `SELECT id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id FROM oauth_grants`

func scanGrant(row pgx.Row) (*mcpgate.Grant, error) {
	var (
		g                 mcpgate.Grant
		lastUsed, revoked *time.Time
	)
	if err := row.Scan(&g.ID, &g.Subject, &g.Tenant, &g.ClientID, &g.Scopes, &g.Resource, &g.CreatedAt, &lastUsed, &revoked, &g.KeyID); err != nil {
		return nil, err
	}
	g.Scopes = decodeList(g.Scopes)
	g.CreatedAt, g.LastUsed, g.RevokedAt = g.CreatedAt.UTC(), fromNull(lastUsed), fromNull(revoked)
	return &g, nil
}

// SaveGrant creates g, or updates Scopes and LastUsed of an existing one.
func (db *DB) SaveGrant(ctx context.Context, g *mcpgate.Grant) error {
	g.CreatedAt = nowIfZero(g.CreatedAt)
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_grants
		(id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET scopes = excluded.scopes, last_used = excluded.last_used`,
		g.ID, g.Subject, g.Tenant, g.ClientID, encodeList(g.Scopes), g.Resource, g.CreatedAt, nullTime(g.LastUsed), nullTime(g.RevokedAt), g.KeyID)
	if err != nil {
		return fmt.Errorf("postgres: save grant: %w", err)
	}
	return nil
}

// ListGrants returns the subject's active grants, newest first.
func (db *DB) ListGrants(ctx context.Context, subject string) ([]*mcpgate.Grant, error) {
	return queryAll(ctx, db, "list grants", scanGrant, selectGrant+" WHERE subject = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC", subject)
}

// Grant returns a grant by id, revoked or not, or mcpgate.ErrNotFound.
func (db *DB) Grant(ctx context.Context, id string) (*mcpgate.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, selectGrant+" WHERE id = $1", id))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: grant %q: %w", id, err)
	}
	return g, nil
}

// ActiveGrant returns the newest unrevoked grant of subject to client for
// resource, or mcpgate.ErrNotFound.
func (db *DB) ActiveGrant(ctx context.Context, subject, clientID, resource string) (*mcpgate.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, selectGrant+
		" WHERE subject = $1 AND client_id = $2 AND resource = $3 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
		subject, clientID, resource))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: active grant: %w", err)
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
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := affected(tx.Exec(ctx, `UPDATE oauth_grants SET revoked_at = coalesce(revoked_at, $1)
			WHERE id = $2 AND ($3::text IS NULL OR subject = $3)`, at, id, subject))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL", at, id); err != nil {
			return err
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeGrant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke grant %q: %w", id, err)
	}
	return nil
}
