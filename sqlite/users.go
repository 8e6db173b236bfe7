package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Local login users; table in migrations/00003_users.sql.

var _ mcpgate.UserAdminStore = (*DB)(nil)

// CreateUser stores u; mcpgate.ErrConflict if the name is taken. Names
// match exactly: "Alice" and "alice" are two users. A zero CreatedAt is
// set to now.
func (db *DB) CreateUser(ctx context.Context, u *mcpgate.User) error {
	if u == nil || u.Name == "" {
		return errors.New("sqlite: create user: empty name")
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("sqlite: create user %q: empty password hash", u.Name)
	}
	u.CreatedAt = nowIfZero(u.CreatedAt)
	_, err := db.db.ExecContext(ctx, `INSERT INTO users
		(name, tenant, password_hash, scopes, created_at, disabled_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Name, u.Tenant, u.PasswordHash, encodeList(u.Scopes), micro(u.CreatedAt), micros(u.DisabledAt))
	if isConflict(err) {
		return fmt.Errorf("sqlite: user %q: %w", u.Name, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	return nil
}

const selectUser = `SELECT name, tenant, password_hash, scopes, created_at, disabled_at FROM users`

func scanUser(row scanner) (*mcpgate.User, error) {
	var (
		u        mcpgate.User
		scopes   string
		created  int64
		disabled sql.NullInt64
	)
	if err := row.Scan(&u.Name, &u.Tenant, &u.PasswordHash, &scopes, &created, &disabled); err != nil {
		return nil, err
	}
	var err error
	if u.Scopes, err = decodeList(scopes); err != nil {
		return nil, fmt.Errorf("user %q: scopes: %w", u.Name, err)
	}
	u.CreatedAt = fromMicros(sql.NullInt64{Int64: created, Valid: true})
	u.DisabledAt = fromMicros(disabled)
	return &u, nil
}

// User returns the user with exactly this name, or mcpgate.ErrNotFound.
func (db *DB) User(ctx context.Context, name string) (*mcpgate.User, error) {
	u, err := scanUser(db.db.QueryRowContext(ctx, selectUser+" WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: user %q: %w", name, mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: user: %w", err)
	}
	return u, nil
}

// ListUsers returns every user, disabled ones included, ordered by name.
func (db *DB) ListUsers(ctx context.Context) ([]*mcpgate.User, error) {
	return queryAll(ctx, db, "list users", scanUser, selectUser+" ORDER BY name")
}

// DeleteUser removes the user; mcpgate.ErrNotFound if unknown.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	return db.updateUser(ctx, "delete user", name, "DELETE FROM users WHERE name = ?", name)
}

// SetUserPassword replaces the user's password hash; mcpgate.ErrNotFound
// if unknown.
func (db *DB) SetUserPassword(ctx context.Context, name, hash string) error {
	if hash == "" {
		return fmt.Errorf("sqlite: set password of user %q: empty password hash", name)
	}
	return db.updateUser(ctx, "set password", name, "UPDATE users SET password_hash = ? WHERE name = ?", hash, name)
}

// SetUserDisabled sets the user's disabled time, the zero time enabling
// the user; mcpgate.ErrNotFound if unknown.
func (db *DB) SetUserDisabled(ctx context.Context, name string, at time.Time) error {
	return db.updateUser(ctx, "disable user", name, "UPDATE users SET disabled_at = ? WHERE name = ?", micros(at), name)
}

// updateUser runs a statement that changes one user's row, and reports
// mcpgate.ErrNotFound when it changed none.
func (db *DB) updateUser(ctx context.Context, what, name, query string, args ...any) error {
	return db.write(ctx, func() error {
		res, err := db.db.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("sqlite: %s %q: %w", what, name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: %s %q: %w", what, name, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: user %q: %w", name, mcpgate.ErrNotFound)
		}
		return nil
	})
}
