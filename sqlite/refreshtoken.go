package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Refresh tokens, stored as their SHA-256: table oauth_refresh_tokens of
// migrations/00002_oauth.sql.

var _ mcpgate.RefreshTokenStore = (*DB)(nil)

// CreateRefreshToken stores t, and deletes tokens that expired more than
// a day ago.
func (db *DB) CreateRefreshToken(ctx context.Context, t *mcpgate.RefreshToken) error {
	if len(t.Hash) != 32 {
		return errors.New("sqlite: create refresh token: hash must be 32 bytes")
	}
	t.CreatedAt = nowIfZero(t.CreatedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// Tokens a day past expiry can no longer be presented, not even
		// as a reuse worth detecting.
		if _, err := tx.ExecContext(ctx, "DELETE FROM oauth_refresh_tokens WHERE expires_at < ?", micro(t.CreatedAt.Add(-24*time.Hour))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_refresh_tokens
			(hash, family, grant_id, client_id, subject, tenant, scopes, resource, created_at, expires_at, used_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Hash, t.Family, t.GrantID, t.ClientID, t.Subject, t.Tenant, encodeList(t.Scopes), t.Resource,
			micro(t.CreatedAt), micro(t.ExpiresAt), micros(t.UsedAt), micros(t.RevokedAt))
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create refresh token: %w", err)
	}
	return nil
}

const selectRefreshToken = `SELECT hash, family, grant_id, client_id, subject, tenant, scopes, resource, created_at, expires_at, used_at, revoked_at FROM oauth_refresh_tokens`

func scanRefreshToken(row scanner) (*mcpgate.RefreshToken, error) {
	var (
		t                mcpgate.RefreshToken
		scopes           string
		created, expires int64
		used, revoked    sql.NullInt64
	)
	if err := row.Scan(&t.Hash, &t.Family, &t.GrantID, &t.ClientID, &t.Subject, &t.Tenant, &scopes, &t.Resource,
		&created, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	var err error
	if t.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("refresh token: %w", err)
	}
	t.CreatedAt = time.UnixMicro(created).UTC()
	t.ExpiresAt = time.UnixMicro(expires).UTC()
	t.UsedAt = fromMicros(used)
	t.RevokedAt = fromMicros(revoked)
	return &t, nil
}

// UseRefreshToken marks the token used and returns it; a token used
// before is returned with mcpgate.ErrConflict.
func (db *DB) UseRefreshToken(ctx context.Context, hash []byte, at time.Time) (*mcpgate.RefreshToken, error) {
	var t *mcpgate.RefreshToken
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanRefreshToken(tx.QueryRowContext(ctx, selectRefreshToken+" WHERE hash = ?", hash))
		if errors.Is(err, sql.ErrNoRows) {
			return mcpgate.ErrNotFound
		}
		if err != nil || !t.UsedAt.IsZero() {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE oauth_refresh_tokens SET used_at = ? WHERE hash = ?", micro(at), hash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: use refresh token: %w", err)
	}
	if !t.UsedAt.IsZero() {
		return t, fmt.Errorf("sqlite: use refresh token: %w", mcpgate.ErrConflict)
	}
	t.UsedAt = at
	return t, nil
}

// RefreshTokenByHash returns a token without using it, or
// mcpgate.ErrNotFound.
func (db *DB) RefreshTokenByHash(ctx context.Context, hash []byte) (*mcpgate.RefreshToken, error) {
	t, err := scanRefreshToken(db.db.QueryRowContext(ctx, selectRefreshToken+" WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: refresh token: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: refresh token: %w", err)
	}
	return t, nil
}

// RevokeTokenFamily revokes the family's refresh tokens and publishes a
// ChangeToken change for the family, in one transaction.
func (db *DB) RevokeTokenFamily(ctx context.Context, family string, at time.Time) error {
	at = nowIfZero(at)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL", micro(at), family); err != nil {
			return err
		}
		_, err := publishChange(ctx, tx, mcpgate.ChangeToken, family)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke token family: %w", err)
	}
	return nil
}

// RevokeAccessToken publishes a ChangeToken change for the jti.
func (db *DB) RevokeAccessToken(ctx context.Context, jti string, at time.Time) error {
	if _, err := publishChange(ctx, db.db, mcpgate.ChangeToken, jti); err != nil {
		return fmt.Errorf("sqlite: revoke access token: %w", err)
	}
	return nil
}
