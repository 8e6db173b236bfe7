package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// OAuth clients: table oauth_clients of migrations/00002_oauth.sql, with
// the introspection column of 00005_client_introspection.sql.

var _ mcpgate.ClientStore = (*DB)(nil)

// CreateClient stores c; mcpgate.ErrConflict if c.ID exists.
func (db *DB) CreateClient(ctx context.Context, c *mcpgate.Client) error {
	if c == nil || c.ID == "" {
		return errors.New("sqlite: create client: no id")
	}
	c.CreatedAt = nowIfZero(c.CreatedAt)
	_, err := db.db.ExecContext(ctx, `INSERT INTO oauth_clients
		(id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, introspection, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, encodeList(c.RedirectURIs), c.SecretHash, encodeList(c.GrantTypes), encodeList(c.Scopes),
		c.Subject, c.Tenant, c.Source, c.Introspection, micro(c.CreatedAt), micros(c.RevokedAt))
	if isConflict(err) {
		return fmt.Errorf("sqlite: client %q: %w", c.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create client: %w", err)
	}
	return nil
}

const selectClient = `SELECT id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, introspection, created_at, revoked_at FROM oauth_clients`

func scanClient(row scanner) (*mcpgate.Client, error) {
	var (
		c                  mcpgate.Client
		ru, gt, sc         string
		created            int64
		revoked            sql.NullInt64
		secret             []byte
		errRU, errGT, errS error
	)
	if err := row.Scan(&c.ID, &c.Name, &ru, &secret, &gt, &sc, &c.Subject, &c.Tenant, &c.Source, &c.Introspection, &created, &revoked); err != nil {
		return nil, err
	}
	c.RedirectURIs, errRU = decodeList(ru)
	c.GrantTypes, errGT = decodeList(gt)
	c.Scopes, errS = decodeList(sc)
	if err := errors.Join(errRU, errGT, errS); err != nil {
		return nil, fmt.Errorf("client %q: %w", c.ID, err)
	}
	if len(secret) > 0 {
		c.SecretHash = secret
	}
	c.CreatedAt = time.UnixMicro(created).UTC()
	c.RevokedAt = fromMicros(revoked)
	return &c, nil
}

// Client returns the client, revoked or not, or mcpgate.ErrNotFound.
func (db *DB) Client(ctx context.Context, id string) (*mcpgate.Client, error) {
	c, err := scanClient(db.db.QueryRowContext(ctx, selectClient+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: client %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: client %q: %w", id, err)
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE oauth_clients SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", micro(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return mcpgate.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, "UPDATE oauth_grants SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL", micro(at), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL", micro(at), id); err != nil {
			return err
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeClient, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke client %q: %w", id, err)
	}
	return nil
}
