package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// The store of the embedded OAuth authorization server; tables in
// migrations/00002_oauth.sql.

var _ mcpgate.OAuthStore = (*DB)(nil)

// list stores nil as an empty array, as the columns are NOT NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// unlist reads an empty array back as nil.
func unlist(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// affected turns "no row changed" into mcpgate.ErrNotFound.
func affected(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return mcpgate.ErrNotFound
	}
	return nil
}

// CreateClient stores c; mcpgate.ErrConflict if c.ID exists.
func (db *DB) CreateClient(ctx context.Context, c *mcpgate.Client) error {
	if c == nil || c.ID == "" {
		return errors.New("postgres: create client: no id")
	}
	c.CreatedAt = nowIfZero(c.CreatedAt)
	_, err := db.pool.Exec(ctx, `INSERT INTO oauth_clients
		(id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, created_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.ID, c.Name, list(c.RedirectURIs), c.SecretHash, list(c.GrantTypes), list(c.Scopes),
		c.Subject, c.Tenant, c.Source, c.CreatedAt, nullTime(c.RevokedAt))
	if isConflict(err) {
		return fmt.Errorf("postgres: client %q: %w", c.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create client: %w", err)
	}
	return nil
}

const selectClient = `SELECT id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, created_at, revoked_at FROM oauth_clients`

func scanClient(row pgx.Row) (*mcpgate.Client, error) {
	var (
		c       mcpgate.Client
		revoked *time.Time
	)
	if err := row.Scan(&c.ID, &c.Name, &c.RedirectURIs, &c.SecretHash, &c.GrantTypes, &c.Scopes,
		&c.Subject, &c.Tenant, &c.Source, &c.CreatedAt, &revoked); err != nil {
		return nil, err
	}
	c.RedirectURIs, c.GrantTypes, c.Scopes = unlist(c.RedirectURIs), unlist(c.GrantTypes), unlist(c.Scopes)
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
		r.ID, r.ClientID, r.RedirectURI, r.State, list(r.Scopes), r.Resource, r.CodeChallenge,
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
	r.Scopes = unlist(r.Scopes)
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
		r.Subject, r.Tenant, r.GrantID, list(r.Scopes), r.CodeHash, r.ExpiresAt, r.ID))
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

// RedeemCode marks the code used and returns its request; a code used
// before is returned with mcpgate.ErrConflict. The row lock makes two
// concurrent redemptions take turns: exactly one wins.
func (db *DB) RedeemCode(ctx context.Context, hash []byte, at time.Time) (*mcpgate.AuthRequest, error) {
	var r *mcpgate.AuthRequest
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRow(ctx, selectAuthRequest+" WHERE code_hash = $1 FOR UPDATE", hash))
		if errNoRows(err) {
			return mcpgate.ErrNotFound
		}
		if err != nil || !r.UsedAt.IsZero() {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE oauth_auth_requests SET used_at = $1 WHERE id = $2", at, r.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: redeem code: %w", err)
	}
	if !r.UsedAt.IsZero() {
		return r, fmt.Errorf("postgres: redeem code: %w", mcpgate.ErrConflict)
	}
	r.UsedAt = at
	return r, nil
}

const selectGrant = `SELECT id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id FROM oauth_grants`

func scanGrant(row pgx.Row) (*mcpgate.Grant, error) {
	var (
		g                 mcpgate.Grant
		lastUsed, revoked *time.Time
	)
	if err := row.Scan(&g.ID, &g.Subject, &g.Tenant, &g.ClientID, &g.Scopes, &g.Resource, &g.CreatedAt, &lastUsed, &revoked, &g.KeyID); err != nil {
		return nil, err
	}
	g.Scopes = unlist(g.Scopes)
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
		g.ID, g.Subject, g.Tenant, g.ClientID, list(g.Scopes), g.Resource, g.CreatedAt, nullTime(g.LastUsed), nullTime(g.RevokedAt), g.KeyID)
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
		t.Hash, t.Family, t.GrantID, t.ClientID, t.Subject, t.Tenant, list(t.Scopes), t.Resource,
		t.CreatedAt, t.ExpiresAt, nullTime(t.UsedAt), nullTime(t.RevokedAt))
	if isConflict(err) {
		err = mcpgate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("postgres: create refresh token: %w", err)
	}
	return nil
}

const selectRefresh = `SELECT hash, family, grant_id, client_id, subject, tenant, scopes, resource, created_at, expires_at, used_at, revoked_at FROM oauth_refresh_tokens`

func scanRefresh(row pgx.Row) (*mcpgate.RefreshToken, error) {
	var (
		t             mcpgate.RefreshToken
		used, revoked *time.Time
	)
	if err := row.Scan(&t.Hash, &t.Family, &t.GrantID, &t.ClientID, &t.Subject, &t.Tenant, &t.Scopes, &t.Resource,
		&t.CreatedAt, &t.ExpiresAt, &used, &revoked); err != nil {
		return nil, err
	}
	t.Scopes = unlist(t.Scopes)
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
		t, err = scanRefresh(tx.QueryRow(ctx, selectRefresh+" WHERE hash = $1 FOR UPDATE", hash))
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
	t, err := scanRefresh(db.pool.QueryRow(ctx, selectRefresh+" WHERE hash = $1", hash))
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

// SigningKeys returns every signing key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]*mcpgate.SigningKey, error) {
	rows, err := db.pool.Query(ctx, "SELECT id, alg, private_key, created_at, retired_at FROM oauth_signing_keys ORDER BY created_at DESC, id DESC")
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*mcpgate.SigningKey, error) {
		var (
			k       mcpgate.SigningKey
			retired *time.Time
		)
		err := r.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.CreatedAt, &retired)
		k.CreatedAt, k.RetiredAt = k.CreatedAt.UTC(), fromNull(retired)
		return &k, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	return out, nil
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
