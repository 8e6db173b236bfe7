package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Refresh tokens, stored as their SHA-256: table oauth_refresh_tokens of
// migrations/00002_oauth.sql.

var _ mcpgate.RefreshTokenStore = (*DB)(nil)

// CreateRefreshToken stores t, and deletes tokens that expired more than
// a day ago.
func (db *DB) CreateRefreshToken(ctx context.Context, t *mcpgate.RefreshToken) error {
	if len(t.Hash) != 32 {
		return errors.New("postgres: create refresh token: hash must be 32 bytes")
	}
	t.CreatedAt = nowIfZero(t.CreatedAt)
	// Tokens a day past expiry can no longer be presented, not even as a
	// reuse worth detecting.
	if _, err := db.pool.Exec(ctx, "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1", t.CreatedAt.Add(-24*time.Hour)); err != nil {
		return fmt.Errorf("postgres: create refresh token: %w", err)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_refresh_tokens
		(hash, family, grant_id, client_id, subject, tenant, scopes, resource, created_at, expires_at, used_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		t.Hash, t.Family, t.GrantID, t.ClientID, t.Subject, t.Tenant, encodeList(t.Scopes), t.Resource,
		t.CreatedAt, t.ExpiresAt, nullTime(t.UsedAt), nullTime(t.RevokedAt))
	if isConflict(err) {
		err = mcpgate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("postgres: create refresh token: %w", err)
	}
	return nil
}

const selectRefreshToken = `SELECT hash, family, grant_id, client_id, subject, tenant, scopes, resource, created_at, expires_at, used_at, revoked_at FROM oauth_refresh_tokens`

func scanRefreshToken(row pgx.Row) (*mcpgate.RefreshToken, error) {
	var (
		t             mcpgate.RefreshToken
		used, revoked *time.Time
	)
	if err := row.Scan(&t.Hash, &t.Family, &t.GrantID, &t.ClientID, &t.Subject, &t.Tenant, &t.Scopes, &t.Resource,
		&t.CreatedAt, &t.ExpiresAt, &used, &revoked); err != nil {
		return nil, err
	}
	t.Scopes = decodeList(t.Scopes)
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC(), fromNull(used), fromNull(revoked)
	return &t, nil
}

// UseRefreshToken marks the token used and returns it; a token used
// before is returned with mcpgate.ErrConflict. The row lock makes two
// concurrent uses take turns: the second sees the first's mark.
func (db *DB) UseRefreshToken(ctx context.Context, hash []byte, at time.Time) (*mcpgate.RefreshToken, error) {
	var t *mcpgate.RefreshToken
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanRefreshToken(tx.QueryRow(ctx, selectRefreshToken+" WHERE hash = $1 FOR UPDATE", hash))
		if errNoRows(err) {
			return mcpgate.ErrNotFound
		}
		if err != nil || !t.UsedAt.IsZero() {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE oauth_refresh_tokens SET used_at = $1 WHERE hash = $2", at, hash)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: use refresh token: %w", err)
	}
	if !t.UsedAt.IsZero() {
		return t, fmt.Errorf("postgres: use refresh token: %w", mcpgate.ErrConflict)
	}
	t.UsedAt = at
	return t, nil
}

// RefreshTokenByHash returns a token without using it, or
// mcpgate.ErrNotFound.
func (db *DB) RefreshTokenByHash(ctx context.Context, hash []byte) (*mcpgate.RefreshToken, error) {
	t, err := scanRefreshToken(db.pool.QueryRow(ctx, selectRefreshToken+" WHERE hash = $1", hash))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: refresh token: %w", err)
	}
	return t, nil
}

// RevokeTokenFamily revokes the family's refresh tokens and publishes a
// ChangeToken change for the family, in one transaction.
func (db *DB) RevokeTokenFamily(ctx context.Context, family string, at time.Time) error {
	at = nowIfZero(at)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL", at, family); err != nil {
			return err
		}
		_, err := publishChange(ctx, tx, mcpgate.ChangeToken, family)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke token family: %w", err)
	}
	return nil
}

// RevokeAccessToken publishes a ChangeToken change for the jti.
func (db *DB) RevokeAccessToken(ctx context.Context, jti string, at time.Time) error {
	if _, err := db.PublishChange(ctx, mcpgate.ChangeToken, jti); err != nil {
		return fmt.Errorf("postgres: revoke access token: %w", err)
	}
	return nil
}
