package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

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
		return fmt.Errorf("sqlite: create login state: the state hash must be 32 bytes")
	}
	s.CreatedAt = nowIfZero(s.CreatedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM login_states WHERE expires_at < ?", micro(s.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO login_states (state_hash, issuer, nonce, verifier, request_id, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			s.StateHash, s.Issuer, s.Nonce, s.Verifier, s.RequestID, micro(s.CreatedAt), micro(s.ExpiresAt))
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create login state: %w", err)
	}
	return nil
}

// TakeLoginState deletes the state with hash and returns it, unless it
// expired at at. One statement deletes and returns the row, so of two
// concurrent takes only one finds it.
func (db *DB) TakeLoginState(ctx context.Context, hash []byte, at time.Time) (*mcpgate.LoginState, error) {
	var (
		s                mcpgate.LoginState
		created, expires int64
	)
	err := db.write(ctx, func() error {
		return db.db.QueryRowContext(ctx, `DELETE FROM login_states WHERE state_hash = ?
			RETURNING state_hash, issuer, nonce, verifier, request_id, created_at, expires_at`, hash).
			Scan(&s.StateHash, &s.Issuer, &s.Nonce, &s.Verifier, &s.RequestID, &created, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: take login state: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: take login state: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	if !at.Before(s.ExpiresAt) {
		return nil, fmt.Errorf("sqlite: take login state: expired: %w", mcpgate.ErrNotFound)
	}
	return &s, nil
}

// SaveIdPTokens stores t, replacing the tokens of t.Subject.
func (db *DB) SaveIdPTokens(ctx context.Context, t *mcpgate.IdPTokens) error {
	if t.Subject == "" || len(t.AccessToken) == 0 {
		return fmt.Errorf("sqlite: save idp tokens: a subject and an access token are required")
	}
	t.UpdatedAt = nowIfZero(t.UpdatedAt)
	err := db.write(ctx, func() error {
		_, err := db.db.ExecContext(ctx, `INSERT INTO idp_tokens (subject, issuer, access_token, refresh_token, expiry, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (subject) DO UPDATE SET issuer = excluded.issuer, access_token = excluded.access_token,
				refresh_token = excluded.refresh_token, expiry = excluded.expiry, updated_at = excluded.updated_at`,
			t.Subject, t.Issuer, t.AccessToken, nilIfEmpty(t.RefreshToken), micros(t.Expiry), micro(t.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: save idp tokens: %w", err)
	}
	return nil
}

// IdPTokens returns the tokens of subject.
func (db *DB) IdPTokens(ctx context.Context, subject string) (*mcpgate.IdPTokens, error) {
	var (
		t       mcpgate.IdPTokens
		expiry  sql.NullInt64
		updated int64
	)
	err := db.db.QueryRowContext(ctx, `SELECT subject, issuer, access_token, refresh_token, expiry, updated_at
		FROM idp_tokens WHERE subject = ?`, subject).
		Scan(&t.Subject, &t.Issuer, &t.AccessToken, &t.RefreshToken, &expiry, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: idp tokens: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: idp tokens: %w", err)
	}
	t.Expiry, t.UpdatedAt = fromMicros(expiry), time.UnixMicro(updated).UTC()
	return &t, nil
}

// UpdateIdPTokens replaces the tokens of t.Subject if its access token is
// still from.
func (db *DB) UpdateIdPTokens(ctx context.Context, t *mcpgate.IdPTokens, from []byte) error {
	t.UpdatedAt = nowIfZero(t.UpdatedAt)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idp_tokens SET issuer = ?, access_token = ?, refresh_token = ?, expiry = ?, updated_at = ?
			WHERE subject = ? AND access_token = ?`,
			t.Issuer, t.AccessToken, nilIfEmpty(t.RefreshToken), micros(t.Expiry), micro(t.UpdatedAt), t.Subject, from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, "SELECT 1 FROM idp_tokens WHERE subject = ?", t.Subject).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return mcpgate.ErrNotFound
		}
		if err != nil {
			return err
		}
		return mcpgate.ErrConflict
	})
	if err != nil {
		return fmt.Errorf("sqlite: update idp tokens: %w", err)
	}
	return nil
}

// DeleteIdPTokens removes the tokens of subject.
func (db *DB) DeleteIdPTokens(ctx context.Context, subject string) error {
	var res sql.Result
	err := db.write(ctx, func() (err error) {
		res, err = db.db.ExecContext(ctx, "DELETE FROM idp_tokens WHERE subject = ?", subject)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete idp tokens: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete idp tokens: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: delete idp tokens: %w", mcpgate.ErrNotFound)
	}
	return nil
}

// nilIfEmpty stores an empty byte slice as NULL.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
