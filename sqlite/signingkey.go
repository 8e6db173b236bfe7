package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Keys the authorization server signs access tokens with: table
// oauth_signing_keys of migrations/00002_oauth.sql.

var _ mcpgate.SigningKeyStore = (*DB)(nil)

const selectSigningKey = `SELECT id, alg, private_key, created_at, retired_at FROM oauth_signing_keys`

func scanSigningKey(row scanner) (*mcpgate.SigningKey, error) {
	var (
		k       mcpgate.SigningKey
		created int64
		retired sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired); err != nil {
		return nil, err
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	k.RetiredAt = fromMicros(retired)
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE oauth_signing_keys SET retired_at = ? WHERE retired_at IS NULL", micro(k.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO oauth_signing_keys (id, alg, private_key, created_at) VALUES (?, ?, ?, ?)",
			k.ID, k.Algorithm, k.PrivateKey, micro(k.CreatedAt))
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: add signing key: %w", err)
	}
	return nil
}

// UpdateSigningKey replaces the private key of id if it is still from.
func (db *DB) UpdateSigningKey(ctx context.Context, id string, from, to []byte) error {
	var res sql.Result
	err := db.write(ctx, func() (err error) {
		res, err = db.db.ExecContext(ctx, "UPDATE oauth_signing_keys SET private_key = ? WHERE id = ? AND private_key = ?", to, id, from)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: update signing key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: update signing key: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: update signing key %s: %w", id, mcpgate.ErrNotFound)
	}
	return nil
}
