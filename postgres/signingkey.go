package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Keys the authorization server signs access tokens with: table
// oauth_signing_keys of migrations/00002_oauth.sql.

var _ mcpgate.SigningKeyStore = (*DB)(nil)

const selectSigningKey = `SELECT id, alg, private_key, created_at, retired_at FROM oauth_signing_keys`

func scanSigningKey(row pgx.Row) (*mcpgate.SigningKey, error) {
	var (
		k       mcpgate.SigningKey
		retired *time.Time
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.CreatedAt, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt, k.RetiredAt = k.CreatedAt.UTC(), fromNull(retired)
	return &k, nil
}

// SigningKeys returns every signing key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]*mcpgate.SigningKey, error) {
	return queryAll(ctx, db, "signing keys", scanSigningKey, selectSigningKey+" ORDER BY created_at DESC, id DESC")
}

// AddSigningKey stores k and retires every other active key at
// k.CreatedAt, in one transaction.
func (db *DB) AddSigningKey(ctx context.Context, k *mcpgate.SigningKey) error {
	k.CreatedAt = nowIfZero(k.CreatedAt)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE oauth_signing_keys SET retired_at = $1 WHERE retired_at IS NULL", k.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO oauth_signing_keys (id, alg, private_key, created_at) VALUES ($1, $2, $3, $4)",
			k.ID, k.Algorithm, k.PrivateKey, k.CreatedAt)
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: add signing key: %w", err)
	}
	return nil
}

// UpdateSigningKey replaces the private key of id if it is still from.
func (db *DB) UpdateSigningKey(ctx context.Context, id string, from, to []byte) error {
	err := affected(db.pool.Exec(ctx, "UPDATE oauth_signing_keys SET private_key = $1 WHERE id = $2 AND private_key = $3", to, id, from))
	if err != nil {
		return fmt.Errorf("postgres: update signing key %s: %w", id, err)
	}
	return nil
}
