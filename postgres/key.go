package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mcpgate/mcpgate"
)

const selectKey = `SELECT id, name, subject, tenant, scopes, hash, created_at, expires_at, last_used_at, revoked_at, rotated_to FROM api_keys`

// CreateKey stores k. It returns mcpgate.ErrConflict if k.ID exists. A
// zero k.CreatedAt is set to the current time.
func (db *DB) CreateKey(ctx context.Context, k *mcpgate.APIKey) error {
	if err := insertKey(ctx, db.pool, k); err != nil {
		return fmt.Errorf("postgres: create key: %w", err)
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func insertKey(ctx context.Context, q querier, k *mcpgate.APIKey) error {
	if err := validKey(k); err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	_, err := q.Exec(ctx, `INSERT INTO api_keys
		(id, name, subject, tenant, scopes, hash, created_at, expires_at, last_used_at, revoked_at, rotated_to)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		k.ID, k.Name, k.Subject, k.Tenant, scopes, k.Hash,
		k.CreatedAt, nullTime(k.ExpiresAt), nullTime(k.LastUsedAt), nullTime(k.RevokedAt), k.RotatedTo)
	if isConflict(err) {
		return fmt.Errorf("key %q: %w", k.ID, mcpgate.ErrConflict)
	}
	return err
}

func validKey(k *mcpgate.APIKey) error {
	switch {
	case k == nil:
		return errors.New("nil key")
	case k.ID == "":
		return errors.New("key without id")
	case len(k.Hash) != 32:
		return fmt.Errorf("key %q: hash is %d bytes, want 32", k.ID, len(k.Hash))
	}
	// Scopes are matched exactly; refuse what could not be stored exactly.
	for _, s := range k.Scopes {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return fmt.Errorf("key %q: scope %q is not valid UTF-8 text", k.ID, s)
		}
	}
	return nil
}

// Key returns the key with id, or mcpgate.ErrNotFound.
func (db *DB) Key(ctx context.Context, id string) (*mcpgate.APIKey, error) {
	k, err := scanKey(db.pool.QueryRow(ctx, selectKey+" WHERE id = $1", id))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: key %q: %w", id, err)
	}
	return k, nil
}

func scanKey(row pgx.Row) (*mcpgate.APIKey, error) {
	var (
		k                            mcpgate.APIKey
		expires, lastUsed, revokedAt *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Subject, &k.Tenant, &k.Scopes, &k.Hash,
		&k.CreatedAt, &expires, &lastUsed, &revokedAt, &k.RotatedTo); err != nil {
		return nil, err
	}
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = fromNull(expires)
	k.LastUsedAt = fromNull(lastUsed)
	k.RevokedAt = fromNull(revokedAt)
	return &k, nil
}

// ListKeys returns every key, newest first.
func (db *DB) ListKeys(ctx context.Context) ([]*mcpgate.APIKey, error) {
	return queryAll(ctx, db, "list keys", scanKey, selectKey+" ORDER BY created_at DESC, id DESC")
}

// RevokeKey marks the key revoked at at, keeping an earlier revocation
// time, and publishes a ChangeKey change in the same transaction. A zero
// at means now. It returns mcpgate.ErrNotFound for an unknown id.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2", at, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return mcpgate.ErrNotFound
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeKey, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke key %q: %w", id, err)
	}
	return nil
}

// RotateKey stores next and makes it the successor of the key oldID, whose
// expiry becomes graceEnd unless it was earlier, and publishes a ChangeKey
// change for oldID, all in one transaction. It returns mcpgate.ErrNotFound
// if oldID is unknown or revoked and mcpgate.ErrConflict if next.ID
// exists; then nothing is stored.
func (db *DB) RotateKey(ctx context.Context, oldID string, next *mcpgate.APIKey, graceEnd time.Time) error {
	if err := validKey(next); err != nil {
		return fmt.Errorf("postgres: rotate key %q: %w", oldID, err)
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// FOR UPDATE: a concurrent revocation waits, or is seen here.
		var revoked *time.Time
		err := tx.QueryRow(ctx, "SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE", oldID).Scan(&revoked)
		if errNoRows(err) || (err == nil && revoked != nil) {
			return mcpgate.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET rotated_to = $1,
			expires_at = CASE WHEN expires_at < $2 THEN expires_at ELSE $2 END WHERE id = $3`,
			next.ID, graceEnd, oldID); err != nil {
			return err
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeKey, oldID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: rotate key %q: %w", oldID, err)
	}
	return nil
}

// TouchKey records that the key was used at at. The recorded time never
// moves back. It returns mcpgate.ErrNotFound for an unknown id.
//
// It is one round trip updating one row, and readers never wait for it.
// Its commit does not wait for the WAL flush (synchronous_commit off, for
// this transaction only): a crash may lose the last few seconds of
// last-used times, which is cheaper than an fsync on every touch.
func (db *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	update := b.Queue("UPDATE api_keys SET last_used_at = greatest(last_used_at, $1) WHERE id = $2", at, id)
	b.Queue("COMMIT")
	var n int64
	update.Exec(func(tag pgconn.CommandTag) error {
		n = tag.RowsAffected()
		return nil
	})
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: touch key %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: touch key %q: %w", id, mcpgate.ErrNotFound)
	}
	return nil
}
