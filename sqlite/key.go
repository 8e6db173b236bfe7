package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate"
)

const selectKey = `SELECT id, name, subject, tenant, scopes, hash, created_at, expires_at, last_used_at, revoked_at, rotated_to FROM api_keys`

// CreateKey stores k. It returns mcpgate.ErrConflict if k.ID exists. A
// zero k.CreatedAt is set to the current time.
func (db *DB) CreateKey(ctx context.Context, k *mcpgate.APIKey) error {
	if err := db.write(ctx, func() error { return insertKey(ctx, db.db, k) }); err != nil {
		return fmt.Errorf("sqlite: create key: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertKey(ctx context.Context, ex execer, k *mcpgate.APIKey) error {
	if err := validKey(k); err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	scopes, err := encodeScopes(k.Scopes)
	if err != nil {
		return err
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO api_keys
		(id, name, subject, tenant, scopes, hash, created_at, expires_at, last_used_at, revoked_at, rotated_to)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Subject, k.Tenant, scopes, k.Hash,
		k.CreatedAt.UnixMicro(), micros(k.ExpiresAt), micros(k.LastUsedAt), micros(k.RevokedAt), k.RotatedTo)
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

func encodeScopes(scopes []string) (string, error) {
	if len(scopes) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(scopes)
	return string(b), err
}

// Key returns the key with id, or mcpgate.ErrNotFound.
func (db *DB) Key(ctx context.Context, id string) (*mcpgate.APIKey, error) {
	k, err := scanKey(db.keyByID.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: key %q: %w", id, mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: key %q: %w", id, err)
	}
	return k, nil
}

func scanKey(row scanner) (*mcpgate.APIKey, error) {
	var (
		k                            mcpgate.APIKey
		scopes                       string
		created                      int64
		expires, lastUsed, revokedAt sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Subject, &k.Tenant, &scopes, &k.Hash,
		&created, &expires, &lastUsed, &revokedAt, &k.RotatedTo); err != nil {
		return nil, err
	}
	if scopes != "[]" {
		if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
			return nil, fmt.Errorf("key %q: scopes: %w", k.ID, err)
		}
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	k.ExpiresAt = fromMicros(expires)
	k.LastUsedAt = fromMicros(lastUsed)
	k.RevokedAt = fromMicros(revokedAt)
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			"UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", at.UnixMicro(), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return mcpgate.ErrNotFound
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeKey, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: revoke key %q: %w", id, err)
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
		return fmt.Errorf("sqlite: rotate key %q: %w", oldID, err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, "SELECT revoked_at FROM api_keys WHERE id = ?", oldID).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && revoked.Valid) {
			return mcpgate.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		grace := graceEnd.UnixMicro()
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET rotated_to = ?,
			expires_at = CASE WHEN expires_at IS NOT NULL AND expires_at < ? THEN expires_at ELSE ? END
			WHERE id = ?`, next.ID, grace, grace, oldID); err != nil {
			return err
		}
		_, err = publishChange(ctx, tx, mcpgate.ChangeKey, oldID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: rotate key %q: %w", oldID, err)
	}
	return nil
}

// TouchKey records that the key was used at at. The recorded time never
// moves back. It returns mcpgate.ErrNotFound for an unknown id. It is one
// short autocommit UPDATE: in WAL mode readers never wait for it.
func (db *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	var res sql.Result
	err := db.write(ctx, func() (err error) {
		res, err = db.touch.ExecContext(ctx, at.UnixMicro(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: touch key %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: touch key %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: touch key %q: %w", id, mcpgate.ErrNotFound)
	}
	return nil
}
