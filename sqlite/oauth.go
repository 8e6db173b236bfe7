package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// The store of the embedded OAuth authorization server; tables in
// migrations/00002_oauth.sql.

var _ mcpgate.OAuthStore = (*DB)(nil)

func encodeList(l []string) string {
	s, _ := encodeScopes(l) // marshalling strings cannot fail
	return s
}

func decodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	err := json.Unmarshal([]byte(s), &l)
	return l, err
}

func micro(t time.Time) int64 { return t.UnixMicro() }

func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// CreateClient stores c; mcpgate.ErrConflict if c.ID exists.
func (db *DB) CreateClient(ctx context.Context, c *mcpgate.Client) error {
	if c == nil || c.ID == "" {
		return errors.New("sqlite: create client: no id")
	}
	c.CreatedAt = nowIfZero(c.CreatedAt)
	_, err := db.db.ExecContext(ctx, `INSERT INTO oauth_clients
		(id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, encodeList(c.RedirectURIs), c.SecretHash, encodeList(c.GrantTypes), encodeList(c.Scopes),
		c.Subject, c.Tenant, c.Source, micro(c.CreatedAt), micros(c.RevokedAt))
	if isConflict(err) {
		return fmt.Errorf("sqlite: client %q: %w", c.ID, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create client: %w", err)
	}
	return nil
}

const selectClient = `SELECT id, name, redirect_uris, secret_hash, grant_types, scopes, subject, tenant, source, created_at, revoked_at FROM oauth_clients`

func scanClient(row scanner) (*mcpgate.Client, error) {
	var (
		c                  mcpgate.Client
		ru, gt, sc         string
		created            int64
		revoked            sql.NullInt64
		secret             []byte
		errRU, errGT, errS error
	)
	if err := row.Scan(&c.ID, &c.Name, &ru, &secret, &gt, &sc, &c.Subject, &c.Tenant, &c.Source, &created, &revoked); err != nil {
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

// RedeemCode marks the code used and returns its request; a code used
// before is returned with mcpgate.ErrConflict.
func (db *DB) RedeemCode(ctx context.Context, hash []byte, at time.Time) (*mcpgate.AuthRequest, error) {
	var r *mcpgate.AuthRequest
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanAuthRequest(tx.QueryRowContext(ctx, selectAuthRequest+" WHERE code_hash = ?", hash))
		if errors.Is(err, sql.ErrNoRows) {
			return mcpgate.ErrNotFound
		}
		if err != nil {
			return err
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
	if !r.UsedAt.IsZero() {
		return r, fmt.Errorf("sqlite: redeem code: %w", mcpgate.ErrConflict)
	}
	r.UsedAt = at
	return r, nil
}

const selectGrant = `SELECT id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id FROM oauth_grants`

func scanGrant(row scanner) (*mcpgate.Grant, error) {
	var (
		g                 mcpgate.Grant
		scopes            string
		created           int64
		lastUsed, revoked sql.NullInt64
	)
	if err := row.Scan(&g.ID, &g.Subject, &g.Tenant, &g.ClientID, &scopes, &g.Resource, &created, &lastUsed, &revoked, &g.KeyID); err != nil {
		return nil, err
	}
	var err error
	if g.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("grant %q: %w", g.ID, err)
	}
	g.CreatedAt = time.UnixMicro(created).UTC()
	g.LastUsed = fromMicros(lastUsed)
	g.RevokedAt = fromMicros(revoked)
	return &g, nil
}

// SaveGrant creates g, or updates Scopes and LastUsed of an existing one.
func (db *DB) SaveGrant(ctx context.Context, g *mcpgate.Grant) error {
	g.CreatedAt = nowIfZero(g.CreatedAt)
	_, err := db.db.ExecContext(ctx, `INSERT INTO oauth_grants
		(id, subject, tenant, client_id, scopes, resource, created_at, last_used, revoked_at, key_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET scopes = excluded.scopes, last_used = excluded.last_used`,
		g.ID, g.Subject, g.Tenant, g.ClientID, encodeList(g.Scopes), g.Resource, micro(g.CreatedAt), micros(g.LastUsed), micros(g.RevokedAt), g.KeyID)
	if err != nil {
		return fmt.Errorf("sqlite: save grant: %w", err)
	}
	return nil
}

// ListGrants returns the subject's active grants, newest first.
func (db *DB) ListGrants(ctx context.Context, subject string) ([]*mcpgate.Grant, error) {
	return queryAll(ctx, db, "list grants", scanGrant, selectGrant+" WHERE subject = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC", subject)
}

// Grant returns a grant by id, revoked or not, or mcpgate.ErrNotFound.
func (db *DB) Grant(ctx context.Context, id string) (*mcpgate.Grant, error) {
	g, err := scanGrant(db.db.QueryRowContext(ctx, selectGrant+" WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: grant %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: grant %q: %w", id, err)
	}
	return g, nil
}

// ActiveGrant returns the newest unrevoked grant of subject to client for
// resource, or mcpgate.ErrNotFound.
func (db *DB) ActiveGrant(ctx context.Context, subject, clientID, resource string) (*mcpgate.Grant, error) {
	g, err := scanGrant(db.db.QueryRowContext(ctx, selectGrant+
		" WHERE subject = ? AND client_id = ? AND resource = ? AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
		subject, clientID, resource))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: active grant: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: active grant: %w", err)
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		q := "UPDATE oauth_grants SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?"
		args := []any{micro(at), id}
		if subject != nil {
			q += " AND subject = ?"
			args = append(args, *subject)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return mcpgate.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, "UPDATE oauth_refresh_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", micro(at), id); err != nil {
			return err
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeGrant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke grant %q: %w", id, err)
	}
	return nil
}

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

const selectRefresh = `SELECT hash, family, grant_id, client_id, subject, tenant, scopes, resource, created_at, expires_at, used_at, revoked_at FROM oauth_refresh_tokens`

func scanRefresh(row scanner) (*mcpgate.RefreshToken, error) {
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
		t, err = scanRefresh(tx.QueryRowContext(ctx, selectRefresh+" WHERE hash = ?", hash))
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
	t, err := scanRefresh(db.db.QueryRowContext(ctx, selectRefresh+" WHERE hash = ?", hash))
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

// SigningKeys returns every signing key, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]*mcpgate.SigningKey, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT id, alg, private_key, created_at, retired_at FROM oauth_signing_keys ORDER BY created_at DESC, id DESC")
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	defer rows.Close()
	var out []*mcpgate.SigningKey
	for rows.Next() {
		var (
			k       mcpgate.SigningKey
			created int64
			retired sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &created, &retired); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", err)
		}
		k.CreatedAt = time.UnixMicro(created).UTC()
		k.RetiredAt = fromMicros(retired)
		out = append(out, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	return out, nil
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
