package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// Local login users; table in migrations/00003_users.sql.

var _ mcpgate.UserAdminStore = (*DB)(nil)

const selectUser = `SELECT name, tenant, password_hash, scopes, created_at, disabled_at FROM users`

// CreateUser stores u; mcpgate.ErrConflict if the name is taken. Names
// match exactly: "Alice" and "alice" are two users. A zero CreatedAt is
// set to now.
func (db *DB) CreateUser(ctx context.Context, u *mcpgate.User) error {
	if u == nil || u.Name == "" {
		return errors.New("postgres: create user: empty name")
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("postgres: create user %q: empty password hash", u.Name)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	scopes := u.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO users (name, tenant, password_hash, scopes, created_at, disabled_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		u.Name, u.Tenant, u.PasswordHash, scopes, u.CreatedAt, nullTime(u.DisabledAt))
	if isConflict(err) {
		return fmt.Errorf("postgres: user %q: %w", u.Name, mcpgate.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	return nil
}

func scanUser(row pgx.Row) (*mcpgate.User, error) {
	var (
		u        mcpgate.User
		disabled *time.Time
	)
	if err := row.Scan(&u.Name, &u.Tenant, &u.PasswordHash, &u.Scopes, &u.CreatedAt, &disabled); err != nil {
		return nil, err
	}
	if len(u.Scopes) == 0 {
		u.Scopes = nil
	}
	u.CreatedAt = u.CreatedAt.UTC()
	u.DisabledAt = fromNull(disabled)
	return &u, nil
}

// User returns the user with exactly this name, or mcpgate.ErrNotFound.
func (db *DB) User(ctx context.Context, name string) (*mcpgate.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, selectUser+" WHERE name = $1", name))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: user %q: %w", name, err)
	}
	return u, nil
}

// ListUsers returns every user, disabled ones included, ordered by name
// byte by byte (as SQLite orders them), whatever the database collation.
func (db *DB) ListUsers(ctx context.Context) ([]*mcpgate.User, error) {
	return queryAll(ctx, db, "list users", scanUser, selectUser+` ORDER BY name COLLATE "C"`)
}

// DeleteUser removes the user; mcpgate.ErrNotFound if unknown.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	return db.updateUser(ctx, "delete user", name, "DELETE FROM users WHERE name = $1", name)
}

// SetUserPassword replaces the user's password hash; mcpgate.ErrNotFound
// if unknown.
func (db *DB) SetUserPassword(ctx context.Context, name, hash string) error {
	if hash == "" {
		return fmt.Errorf("postgres: set password of user %q: empty password hash", name)
	}
	return db.updateUser(ctx, "set password", name, "UPDATE users SET password_hash = $2 WHERE name = $1", name, hash)
}

// SetUserDisabled sets the user's disabled time, the zero time enabling
// the user; mcpgate.ErrNotFound if unknown.
func (db *DB) SetUserDisabled(ctx context.Context, name string, at time.Time) error {
	return db.updateUser(ctx, "disable user", name, "UPDATE users SET disabled_at = $2 WHERE name = $1", name, nullTime(at))
}

// updateUser runs a statement that changes one user's row, and reports
// mcpgate.ErrNotFound when it changed none.
func (db *DB) updateUser(ctx context.Context, what, name, query string, args ...any) error {
	tag, err := db.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s %q: %w", what, name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: user %q: %w", name, mcpgate.ErrNotFound)
	}
	return nil
}
