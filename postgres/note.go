package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mcpgate/mcpgate"
)

// CreateNote stores n. A note id is unique per owner: it returns
// mcpgate.ErrConflict if the owner has a note with n.ID. An empty n.ID is
// set to a new random id, a zero n.CreatedAt to the current time.
func (db *DB) CreateNote(ctx context.Context, n *mcpgate.Note) error {
	if n == nil || n.Owner == "" {
		return errors.New("postgres: create note: note without owner")
	}
	if n.ID == "" {
		n.ID = rand.Text()
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now().UTC()
	}
	_, err := db.pool.Exec(ctx,
		"INSERT INTO notes (owner, id, title, body, created_at) VALUES ($1, $2, $3, $4, $5)",
		n.Owner, n.ID, n.Title, n.Body, n.CreatedAt)
	if isConflict(err) {
		err = mcpgate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("postgres: create note %q: %w", n.ID, err)
	}
	return nil
}

// Note returns the owner's note id, or mcpgate.ErrNotFound, also when the
// note belongs to another owner.
func (db *DB) Note(ctx context.Context, owner, id string) (*mcpgate.Note, error) {
	n, err := scanNote(db.pool.QueryRow(ctx,
		"SELECT owner, id, title, body, created_at FROM notes WHERE owner = $1 AND id = $2", owner, id))
	if errNoRows(err) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: note %q: %w", id, err)
	}
	return n, nil
}

func scanNote(row pgx.Row) (*mcpgate.Note, error) {
	var n mcpgate.Note
	if err := row.Scan(&n.Owner, &n.ID, &n.Title, &n.Body, &n.CreatedAt); err != nil {
		return nil, err
	}
	n.CreatedAt = n.CreatedAt.UTC()
	return &n, nil
}

// ListNotes returns the owner's notes, oldest first (then by id).
func (db *DB) ListNotes(ctx context.Context, owner string) ([]*mcpgate.Note, error) {
	return queryAll(ctx, db, "list notes", scanNote, "SELECT owner, id, title, body, created_at FROM notes WHERE owner = $1 ORDER BY created_at, id", owner)
}
