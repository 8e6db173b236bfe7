package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

// CreateNote stores n. A note id is unique per owner: it returns
// mcpgate.ErrConflict if the owner has a note with n.ID. An empty n.ID is
// set to a new random id, a zero n.CreatedAt to the current time.
func (db *DB) CreateNote(ctx context.Context, n *mcpgate.Note) error {
	if n == nil || n.Owner == "" {
		return errors.New("sqlite: create note: note without owner")
	}
	if n.ID == "" {
		n.ID = rand.Text()
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now().UTC()
	}
	err := db.write(ctx, func() error {
		_, err := db.db.ExecContext(ctx,
			"INSERT INTO notes (owner, id, title, body, created_at) VALUES (?, ?, ?, ?, ?)",
			n.Owner, n.ID, n.Title, n.Body, n.CreatedAt.UnixMicro())
		return err
	})
	if isConflict(err) {
		err = mcpgate.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create note %q: %w", n.ID, err)
	}
	return nil
}

// Note returns the owner's note id, or mcpgate.ErrNotFound, also when the
// note belongs to another owner.
func (db *DB) Note(ctx context.Context, owner, id string) (*mcpgate.Note, error) {
	n, err := scanNote(db.db.QueryRowContext(ctx,
		"SELECT owner, id, title, body, created_at FROM notes WHERE owner = ? AND id = ?", owner, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = mcpgate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: note %q: %w", id, err)
	}
	return n, nil
}

func scanNote(row scanner) (*mcpgate.Note, error) {
	var (
		n       mcpgate.Note
		created int64
	)
	if err := row.Scan(&n.Owner, &n.ID, &n.Title, &n.Body, &created); err != nil {
		return nil, err
	}
	n.CreatedAt = time.UnixMicro(created).UTC()
	return &n, nil
}

// ListNotes returns the owner's notes, oldest first (then by id).
func (db *DB) ListNotes(ctx context.Context, owner string) ([]*mcpgate.Note, error) {
	return queryAll(ctx, db, "list notes", scanNote, "SELECT owner, id, title, body, created_at FROM notes WHERE owner = ? ORDER BY created_at, id", owner)
}
