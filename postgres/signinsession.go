package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Sign-in sessions of the login pages; table signin_sessions of
// migrations/00009_signin_sessions.sql.

var _ mcpgate.SigninSessionStore = (*DB)(nil)

// CreateSigninSession stores s and, when maxPerSubject > 0, deletes the
// subject's oldest sessions beyond maxPerSubject in the same transaction.
// Replicas creating sessions of one subject at once take turns on a
// transaction lock of the subject, so none of them leaves one too many.
func (db *DB) CreateSigninSession(ctx context.Context, s *mcpgate.SigninSession, maxPerSubject int) error {
	if s == nil || len(s.IDHash) != 32 {
		return errors.New("postgres: create sign-in session: the id hash must be 32 bytes")
	}
	if s.Subject == "" {
		return errors.New("postgres: create sign-in session: empty subject")
	}
	s.CreatedAt = nowIfZero(s.CreatedAt)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if maxPerSubject > 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('mcpgate signin ' || $1, 0))", s.Subject); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO signin_sessions
			(id_hash, subject, tenant, method, key_id, scopes, capped, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			s.IDHash, s.Subject, s.Tenant, s.Method, s.KeyID, encodeList(s.Scopes), s.Capped, s.CreatedAt, s.ExpiresAt)
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		if err != nil || maxPerSubject <= 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM signin_sessions WHERE subject = $1 AND seq NOT IN
			(SELECT seq FROM signin_sessions WHERE subject = $1 ORDER BY seq DESC LIMIT $2)`,
			s.Subject, maxPerSubject)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: create sign-in session: %w", err)
	}
	return nil
}

// SigninSession returns the session with hash, or mcpgate.ErrNotFound.
func (db *DB) SigninSession(ctx context.Context, hash []byte) (*mcpgate.SigninSession, error) {
	var s mcpgate.SigninSession
	err := db.pool.QueryRow(ctx, `SELECT id_hash, subject, tenant, method, key_id, scopes, capped, created_at, expires_at
		FROM signin_sessions WHERE id_hash = $1`, hash).
		Scan(&s.IDHash, &s.Subject, &s.Tenant, &s.Method, &s.KeyID, &s.Scopes, &s.Capped, &s.CreatedAt, &s.ExpiresAt)
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: sign-in session: %w", err)
	}
	s.Scopes = decodeList(s.Scopes)
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return &s, nil
}

// DeleteSigninSession ends the session with hash, if there is one.
func (db *DB) DeleteSigninSession(ctx context.Context, hash []byte) error {
	if _, err := db.pool.Exec(ctx, "DELETE FROM signin_sessions WHERE id_hash = $1", hash); err != nil {
		return fmt.Errorf("postgres: delete sign-in session: %w", err)
	}
	return nil
}

// DeleteSubjectSigninSessions ends every session of subject.
func (db *DB) DeleteSubjectSigninSessions(ctx context.Context, subject string) (int, error) {
	tag, err := db.pool.Exec(ctx, "DELETE FROM signin_sessions WHERE subject = $1", subject)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete sign-in sessions of %q: %w", subject, err)
	}
	return int(tag.RowsAffected()), nil
}
