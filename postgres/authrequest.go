package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Authorization requests and their codes: table oauth_auth_requests of
// migrations/00002_oauth.sql.

var _ mcpgate.AuthRequestStore = (*DB)(nil)

// CreateAuthRequest stores a pending authorization request, and deletes
// requests that expired more than a day ago.
func (db *DB) CreateAuthRequest(ctx context.Context, r *mcpgate.AuthRequest) error {
	r.CreatedAt = nowIfZero(r.CreatedAt)
	if _, err := db.pool.Exec(ctx, "DELETE FROM oauth_auth_requests WHERE expires_at < $1", r.CreatedAt.Add(-24*time.Hour)); err != nil {
		return fmt.Errorf("postgres: create auth request: %w", err)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_auth_requests
		(id, client_id, redirect_uri, state, scopes, resource, code_challenge, created_at, expires_at, subject, tenant, grant_id, code_hash, used_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		r.ID, r.ClientID, r.RedirectURI, r.State, encodeList(r.Scopes), r.Resource, r.CodeChallenge,
		r.CreatedAt, r.ExpiresAt, r.Subject, r.Tenant, r.GrantID, r.CodeHash, nullTime(r.UsedAt))
	if isConflict(err) {
		err = mcpgate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("postgres: create auth request: %w", err)
	}
	return nil
}

const selectAuthRequest = `SELECT id, client_id, redirect_uri, state, scopes, resource, code_challenge, created_at, expires_at, subject, tenant, grant_id, code_hash, used_at FROM oauth_auth_requests`

func scanAuthRequest(row pgx.Row) (*mcpgate.AuthRequest, error) {
	var (
		r    mcpgate.AuthRequest
		used *time.Time
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &r.State, &r.Scopes, &r.Resource, &r.CodeChallenge,
		&r.CreatedAt, &r.ExpiresAt, &r.Subject, &r.Tenant, &r.GrantID, &r.CodeHash, &used); err != nil {
		return nil, err
	}
	r.Scopes = decodeList(r.Scopes)
	if len(r.CodeHash) == 0 {
		r.CodeHash = nil
	}
	r.CreatedAt, r.ExpiresAt, r.UsedAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC(), fromNull(used)
	return &r, nil
}

// AuthRequest returns a request by id, or mcpgate.ErrNotFound.
func (db *DB) AuthRequest(ctx context.Context, id string) (*mcpgate.AuthRequest, error) {
	r, err := scanAuthRequest(db.pool.QueryRow(ctx, selectAuthRequest+" WHERE id = $1", id))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: auth request: %w", err)
	}
	return r, nil
}

// ApproveAuthRequest records the approval of a pending request; it returns
// mcpgate.ErrNotFound if the request is unknown or already approved.
func (db *DB) ApproveAuthRequest(ctx context.Context, r *mcpgate.AuthRequest) error {
	err := affected(db.pool.Exec(ctx, `UPDATE oauth_auth_requests
		SET subject = $1, tenant = $2, grant_id = $3, scopes = $4, code_hash = $5, expires_at = $6
		WHERE id = $7 AND code_hash IS NULL`,
		r.Subject, r.Tenant, r.GrantID, encodeList(r.Scopes), r.CodeHash, r.ExpiresAt, r.ID))
	if err != nil {
		return fmt.Errorf("postgres: approve auth request: %w", err)
	}
	return nil
}

// DeleteAuthRequest removes a request; mcpgate.ErrNotFound if unknown.
func (db *DB) DeleteAuthRequest(ctx context.Context, id string) error {
	if err := affected(db.pool.Exec(ctx, "DELETE FROM oauth_auth_requests WHERE id = $1", id)); err != nil {
		return fmt.Errorf("postgres: delete auth request: %w", err)
	}
	return nil
}

// RedeemCode marks the code used and returns its request, unless check
// refuses it (the code is then left unused and check's error returned); a
// code used before is returned with mcpgate.ErrConflict. The row lock
// makes two concurrent redemptions take turns: exactly one wins.
func (db *DB) RedeemCode(ctx context.Context, hash []byte, at time.Time, check func(*mcpgate.AuthRequest) error) (*mcpgate.AuthRequest, error) {
	var (
		r       *mcpgate.AuthRequest
		refused error
	)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRow(ctx, selectAuthRequest+" WHERE code_hash = $1 FOR UPDATE", hash))
		if errNoRows(err) {
			return mcpgate.ErrNotFound
		}
		if err != nil {
			return err
		}
		if check != nil {
			if refused = check(r); refused != nil {
				return nil
			}
		}
		if !r.UsedAt.IsZero() {
			return nil
		}
		_, err = tx.Exec(ctx, "UPDATE oauth_auth_requests SET used_at = $1 WHERE id = $2", at, r.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: redeem code: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	if !r.UsedAt.IsZero() {
		return r, fmt.Errorf("postgres: redeem code: %w", mcpgate.ErrConflict)
	}
	r.UsedAt = at
	return r, nil
}
