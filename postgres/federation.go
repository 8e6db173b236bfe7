package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Federated sign-in: tables login_states and idp_tokens of
// migrations/00007_federation.sql.

var (
	_ mcpgate.LoginStateStore = (*DB)(nil)
	_ mcpgate.IdPTokenStore   = (*DB)(nil)
)

// CreateLoginState stores s and deletes states that have expired.
func (db *DB) CreateLoginState(ctx context.Context, s *mcpgate.LoginState) error {
	if len(s.StateHash) != 32 {
		return fmt.Errorf("postgres: create login state: the state hash must be 32 bytes")
	}
	s.CreatedAt = nowIfZero(s.CreatedAt)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM login_states WHERE expires_at < $1", s.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO login_states (state_hash, issuer, nonce, verifier, request_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			s.StateHash, s.Issuer, s.Nonce, s.Verifier, s.RequestID, s.CreatedAt, s.ExpiresAt)
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create login state: %w", err)
	}
	return nil
}

// TakeLoginState deletes the state with hash and returns it, unless it
// expired at at. One statement deletes and returns the row, so of two
// concurrent takes only one finds it.
func (db *DB) TakeLoginState(ctx context.Context, hash []byte, at time.Time) (*mcpgate.LoginState, error) {
	var s mcpgate.LoginState
	err := db.pool.QueryRow(ctx, `DELETE FROM login_states WHERE state_hash = $1
		RETURNING state_hash, issuer, nonce, verifier, request_id, created_at, expires_at`, hash).
		Scan(&s.StateHash, &s.Issuer, &s.Nonce, &s.Verifier, &s.RequestID, &s.CreatedAt, &s.ExpiresAt)
	if errNoRows(err) {
		return nil, fmt.Errorf("postgres: take login state: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: take login state: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	if !at.Before(s.ExpiresAt) {
		return nil, fmt.Errorf("postgres: take login state: expired: %w", mcpgate.ErrNotFound)
	}
	return &s, nil
}

// SaveIdPTokens stores t, replacing the tokens of t.Subject.
func (db *DB) SaveIdPTokens(ctx context.Context, t *mcpgate.IdPTokens) error {
	if t.Subject == "" || len(t.AccessToken) == 0 {
		return fmt.Errorf("postgres: save idp tokens: a subject and an access token are required")
	}
	t.UpdatedAt = nowIfZero(t.UpdatedAt)
	_, err := db.pool.Exec(ctx, `INSERT INTO idp_tokens (subject, issuer, access_token, refresh_token, expiry, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (subject) DO UPDATE SET issuer = excluded.issuer, access_token = excluded.access_token,
			refresh_token = excluded.refresh_token, expiry = excluded.expiry, updated_at = excluded.updated_at`,
		t.Subject, t.Issuer, t.AccessToken, nilIfEmpty(t.RefreshToken), nullTime(t.Expiry), t.UpdatedAt)
	if err != nil {
		return fmt.Errorf("postgres: save idp tokens: %w", err)
	}
	return nil
}

// IdPTokens returns the tokens of subject.
func (db *DB) IdPTokens(ctx context.Context, subject string) (*mcpgate.IdPTokens, error) {
	var (
		t      mcpgate.IdPTokens
		expiry *time.Time
	)
	err := db.pool.QueryRow(ctx, `SELECT subject, issuer, access_token, refresh_token, expiry, updated_at
		FROM idp_tokens WHERE subject = $1`, subject).
		Scan(&t.Subject, &t.Issuer, &t.AccessToken, &t.RefreshToken, &expiry, &t.UpdatedAt)
	if errNoRows(err) {
		return nil, fmt.Errorf("postgres: idp tokens: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: idp tokens: %w", err)
	}
	t.Expiry, t.UpdatedAt = fromNull(expiry), t.UpdatedAt.UTC()
	return &t, nil
}

// UpdateIdPTokens replaces the tokens of t.Subject if its access token is
// still from.
func (db *DB) UpdateIdPTokens(ctx context.Context, t *mcpgate.IdPTokens, from []byte) error {
	t.UpdatedAt = nowIfZero(t.UpdatedAt)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := affected(tx.Exec(ctx, `UPDATE idp_tokens SET issuer = $1, access_token = $2, refresh_token = $3, expiry = $4, updated_at = $5
			WHERE subject = $6 AND access_token = $7`,
			t.Issuer, t.AccessToken, nilIfEmpty(t.RefreshToken), nullTime(t.Expiry), t.UpdatedAt, t.Subject, from))
		if !errors.Is(err, mcpgate.ErrNotFound) {
			return err
		}
		var one int
		err = tx.QueryRow(ctx, "SELECT 1 FROM idp_tokens WHERE subject = $1", t.Subject).Scan(&one)
		if errNoRows(err) {
			return mcpgate.ErrNotFound
		}
		if err != nil {
			return err
		}
		return mcpgate.ErrConflict
	})
	if err != nil {
		return fmt.Errorf("postgres: update idp tokens: %w", err)
	}
	return nil
}

// DeleteIdPTokens removes the tokens of subject.
func (db *DB) DeleteIdPTokens(ctx context.Context, subject string) error {
	if err := affected(db.pool.Exec(ctx, "DELETE FROM idp_tokens WHERE subject = $1", subject)); err != nil {
		return fmt.Errorf("postgres: delete idp tokens: %w", err)
	}
	return nil
}

// nilIfEmpty stores an empty byte slice as NULL.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
