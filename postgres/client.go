package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// OAuth clients: table oauth_clients of migrations/00002_oauth.sql, with
// the introspection column of 00005_client_introspection.sql.

var _ mcpgate.ClientStore = (*DB)(nil)

// CreateClient stores c; mcpgate.ErrConflict if c.ID exists.
func (db *DB) CreateClient(ctx context.Context, c *mcpgate.Client) error {
	if c == nil || c.ID == "" {
		return errors.New("postgres: create client: no id")
	}
	c.CreatedAt = nowIfZero(c.CreatedAt)
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_clients
		(id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, introspection, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Name, encodeList(c.RedirectURIs), c.SecretHash, encodeList(c.GrantTypes), encodeList(c.Scopes),
		c.Subject, c.Tenant, c.Source, c.Introspection, c.CreatedAt, nullTime(c.RevokedAt))
	if isConflict(err) {
		return fmt.Errorf("postgres: client %q: %w", c.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	return nil
}

const selectClient = `SELECT id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, introspection, created_at, revoked_at FROM oauth_clients`

func scanClient(row pgx.Row) (*mcpgate.Client, error) {
	var (
		c       mcpgate.Client
		revoked *time.Time
	)
	if err := row.Scan(&c.ID, &c.Name, &c.RedirectURIs, &c.SecretHash, &c.GrantTypes, &c.Scopes,
		&c.Subject, &c.Tenant, &c.Source, &c.Introspection, &c.CreatedAt, &revoked); err != nil {
		return nil, err
	}
	c.RedirectURIs, c.GrantTypes, c.Scopes = decodeList(c.RedirectURIs), decodeList(c.GrantTypes), decodeList(c.Scopes)
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.RevokedAt = fromNull(revoked)
	return &c, nil
}

// Client returns the client, revoked or not, or mcpgate.ErrNotFound.
func (db *DB) Client(ctx context.Context, id string) (*mcpgate.Client, error) {
	c, err := scanClient(db.pool.QueryRow(ctx, selectClient+" WHERE id = $1", id))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: client %q: %w", id, err)
	}
	return c, nil
}

// ListClients returns every client, newest first.
func (db *DB) ListClients(ctx context.Context) ([]*mcpgate.Client, error) {
	return queryAll(ctx, db, "list clients", scanClient, selectClient+" ORDER BY created_at DESC, id DESC")
}

// RevokeClient marks the client revoked (keeping an earlier revocation),
// revokes its grants and refresh tokens and publishes a ChangeClient
// change, in one transaction. mcpgate.ErrNotFound for an unknown client.
func (db *DB) RevokeClient(ctx context.Context, id string, at time.Time) error {
	at = nowIfZero(at)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := affected(tx.Exec(ctx, "UPDATE oauth_clients SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2", at, id)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE oauth_grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL", at, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL", at, id); err != nil {
			return err
		}
		_, err := publishChange(ctx, tx, mcpgate.ChangeClient, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke client %q: %w", id, err)
	}
	return nil
}
