package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Authorization requests and their codes: table oauth_auth_requests of
// migrations/00002_oauth.sql.

var _ mcpgate.AuthRequestStore = (*DB)(nil)

// CreateAuthRequest stores a pending authorization request, and deletes
// requests that expired more than a day ago.
func (db *DB) CreateAuthRequest(ctx context.Context, r *mcpgate.AuthRequest) error {
	r.CreatedAt = nowIfZero(r.CreatedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM oauth_auth_requests WHERE expires_at < ?", micro(r.CreatedAt.Add(-24*time.Hour))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_auth_requests
			(id, client_id, redirect_uri, state, scopes, resource, code_challenge, created_at, expires_at, subject, tenant, grant_id, code_hash, used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.ClientID, r.RedirectURI, r.State, encodeList(r.Scopes), r.Resource, r.CodeChallenge,
			micro(r.CreatedAt), micro(r.ExpiresAt), r.Subject, r.Tenant, r.GrantID, r.CodeHash, micros(r.UsedAt))
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create auth request: %w", err)
	}
	return nil
}

const selectAuthRequest = `SELECT id, client_id, redirect_uri, state, scopes, resource, code_challenge, created_at, expires_at, subject, tenant, grant_id, code_hash, used_at FROM oauth_auth_requests`

func scanAuthRequest(row scanner) (*mcpgate.AuthRequest, error) {
	var (
		r                mcpgate.AuthRequest
		scopes           string
		created, expires int64
		used             sql.NullInt64
		code             []byte
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &r.State, &scopes, &r.Resource, &r.CodeChallenge,
		&created, &expires, &r.Subject, &r.Tenant, &r.GrantID, &code, &used); err != nil {
		return nil, err
	}
	var err error
	if r.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("auth request %q: %w", r.ID, err)
	}
	if len(code) > 0 {
		r.CodeHash = code
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	r.ExpiresAt = time.UnixMicro(expires).UTC()
	r.UsedAt = fromMicros(used)
	return &r, nil
}

// AuthRequest returns a request by id, or mcpgate.ErrNotFound.
func (db *DB) AuthRequest(ctx context.Context, id string) (*mcpgate.AuthRequest, error) {
	r, err := scanAuthRequest(db.db.QueryRowContext(ctx, selectAuthRequest+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: auth request: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: auth request: %w", err)
	}
	return r, nil
}

// ApproveAuthRequest records the approval of a pending request; it returns
// mcpgate.ErrNotFound if the request is unknown or already approved.
func (db *DB) ApproveAuthRequest(ctx context.Context, r *mcpgate.AuthRequest) error {
	res, err := db.db.ExecContext(ctx, `UPDATE oauth_auth_requests
		SET subject = ?, tenant = ?, grant_id = ?, scopes = ?, code_hash = ?, expires_at = ?
		WHERE id = ? AND code_hash IS NULL`,
		r.Subject, r.Tenant, r.GrantID, encodeList(r.Scopes), r.CodeHash, micro(r.ExpiresAt), r.ID)
	if err != nil {
		return fmt.Errorf("sqlite: approve auth request: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: approve auth request: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: approve auth request: %w", mcpgate.ErrNotFound)
	}
	return nil
}

// DeleteAuthRequest removes a request; mcpgate.ErrNotFound if unknown.
func (db *DB) DeleteAuthRequest(ctx context.Context, id string) error {
	res, err := db.db.ExecContext(ctx, "DELETE FROM oauth_auth_requests WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("sqlite: delete auth request: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: delete auth request: %w", mcpgate.ErrNotFound)
	}
	return nil
}

// RedeemCode marks the code used and returns its request, unless check
// refuses it (the code is then left unused and check's error returned); a
// code used before is returned with mcpgate.ErrConflict.
func (db *DB) RedeemCode(ctx context.Context, hash []byte, at time.Time, check func(*mcpgate.AuthRequest) error) (*mcpgate.AuthRequest, error) {
	var (
		r       *mcpgate.AuthRequest
		refused error
	)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRowContext(ctx, selectAuthRequest+" WHERE code_hash = ?", hash))
		if errors.Is(err, sql.ErrNoRows) {
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
		_, err = tx.ExecContext(ctx, "UPDATE oauth_auth_requests SET used_at = ? WHERE id = ?", micro(at), r.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: redeem code: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	if !r.UsedAt.IsZero() {
		return r, fmt.Errorf("sqlite: redeem code: %w", mcpgate.ErrConflict)
	}
	r.UsedAt = at
	return r, nil
}
