package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Sign-in sessions of the login pages; table signin_sessions of
// migrations/00009_signin_sessions.sql.

var _ mcpgate.SigninSessionStore = (*DB)(nil)

// CreateSigninSession stores s and, when maxPerSubject > 0, deletes the
// subject's oldest sessions beyond maxPerSubject in the same transaction.
func (db *DB) CreateSigninSession(ctx context.Context, s *mcpgate.SigninSession, maxPerSubject int) error {
	if s == nil || len(s.IDHash) != 32 {
		return errors.New("sqlite: create sign-in session: the id hash must be 32 bytes")
	}
	if s.Subject == "" {
		return errors.New("sqlite: create sign-in session: empty subject")
	}
	s.CreatedAt = nowIfZero(s.CreatedAt)
	capped := 0
	if s.Capped {
		capped = 1
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO signin_sessions
			(id_hash, subject, tenant, method, key_id, scopes, capped, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			s.IDHash, s.Subject, s.Tenant, s.Method, s.KeyID, encodeList(s.Scopes), capped, micro(s.CreatedAt), micro(s.ExpiresAt))
		if isConflict(err) {
			return mcpgate.ErrConflict
		}
		if err != nil || maxPerSubject <= 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM signin_sessions WHERE subject = ? AND seq NOT IN
			(SELECT seq FROM signin_sessions WHERE subject = ? ORDER BY seq DESC LIMIT ?)`,
			s.Subject, s.Subject, maxPerSubject)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create sign-in session: %w", err)
	}
	return nil
}

// SigninSession returns the session with hash, or mcpgate.ErrNotFound.
func (db *DB) SigninSession(ctx context.Context, hash []byte) (*mcpgate.SigninSession, error) {
	var (
		s                mcpgate.SigninSession
		scopes           string
		capped           int
		created, expires int64
	)
	err := db.db.QueryRowContext(ctx, `SELECT id_hash, subject, tenant, method, key_id, scopes, capped, created_at, expires_at
		FROM signin_sessions WHERE id_hash = ?`, hash).
		Scan(&s.IDHash, &s.Subject, &s.Tenant, &s.Method, &s.KeyID, &scopes, &capped, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: sign-in session: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: sign-in session: %w", err)
	}
	if s.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("sqlite: sign-in session: scopes: %w", err)
	}
	s.Capped = capped != 0
	s.CreatedAt = time.UnixMicro(created).UTC()
	s.ExpiresAt = time.UnixMicro(expires).UTC()
	return &s, nil
}

// DeleteSigninSession ends the session with hash, if there is one.
func (db *DB) DeleteSigninSession(ctx context.Context, hash []byte) error {
	err := db.write(ctx, func() error {
		_, err := db.db.ExecContext(ctx, "DELETE FROM signin_sessions WHERE id_hash = ?", hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete sign-in session: %w", err)
	}
	return nil
}

// DeleteSubjectSigninSessions ends every session of subject.
func (db *DB) DeleteSubjectSigninSessions(ctx context.Context, subject string) (int, error) {
	var n int64
	err := db.write(ctx, func() error {
		res, err := db.db.ExecContext(ctx, "DELETE FROM signin_sessions WHERE subject = ?", subject)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete sign-in sessions of %q: %w", subject, err)
	}
	return int(n), nil
}
