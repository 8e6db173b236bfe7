// Package sqlite is the default mcpgate store: one SQLite file, opened with
// the pure-Go modernc.org/sqlite driver, shared by the server and the CLI.
//
// The database runs in WAL mode so that readers never wait for the writer,
// with a busy timeout so that writers from several processes queue instead
// of failing, and with every transaction started IMMEDIATE so that a
// read-then-write transaction never fails half-way with SQLITE_BUSY.
//
// Migrations are the files in migrations/, embedded and applied in order by
// goose when the store is opened. Other packages' tables join the same
// file by adding migrations/000NN_name.sql; their code can reach the
// connection with [DB.SQL].
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the name of the database file inside the data directory.
const FileName = "mcpgate.db"

// BusyTimeout is how long a statement waits for another connection or
// process to release the write lock before it fails.
const BusyTimeout = 10 * time.Second

// migrations holds every schema migration; goose applies them in the order
// of their numeric prefix.
//
//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open SQLite store. It implements mcpgate.Store and is safe for
// concurrent use.
type DB struct {
	db   *sql.DB
	path string

	// writer admits one of this process's writes at a time. SQLite has
	// one writer anyway; queueing here, in order, replaces the busy
	// handler's sleep-and-retry polling, which made concurrent writers
	// wait tens of milliseconds. Other processes still meet the busy
	// timeout.
	writer chan struct{}

	keyByID *sql.Stmt
	touch   *sql.Stmt
}

var (
	_ mcpgate.Store      = (*DB)(nil)
	_ mcpgate.OAuthStore = (*DB)(nil)
)

// Open opens the store in dir, creating dir (mode 0700) and the database
// file (mode 0600) if they are missing, and applies pending migrations.
// Several processes may open the same dir at once.
//
// Open fails, naming the file, if the file is not an SQLite database, if it
// cannot be created or written, or if its schema is newer than this build
// of mcpgate knows.
func Open(ctx context.Context, dir string) (*DB, error) {
	if dir == "" {
		return nil, errors.New("sqlite: open: empty data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if err := createFile(path); err != nil {
		return nil, err
	}

	// Pragmas run on every new connection; modernc runs busy_timeout first
	// so that switching to WAL waits for other processes too.
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL is durable in WAL mode except against power loss, where the
	// last commits may be lost; FULL would fsync on every audit append.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Readers never wait in WAL mode, so the pool only bounds memory.
	sdb.SetMaxOpenConns(32)
	sdb.SetMaxIdleConns(8)
	db := &DB{db: sdb, path: path, writer: make(chan struct{}, 1)}
	if err := db.init(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// createFile creates path with mode 0600 if it does not exist, so that the
// key hashes are never readable by other users, not even briefly.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist):
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("sqlite: open %s: not a regular file", path)
		}
		return nil
	default:
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
}

func (db *DB) init(ctx context.Context) error {
	// Reading the schema is the first access to the file: it fails here,
	// with the path, if the file is not a database.
	if err := db.db.PingContext(ctx); err != nil {
		return db.openErr(err)
	}
	var n int
	if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return db.openErr(err)
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	var err error
	if db.keyByID, err = db.db.PrepareContext(ctx, selectKey+" WHERE id = ?"); err != nil {
		return fmt.Errorf("sqlite: %s: prepare: %w", db.path, err)
	}
	if db.touch, err = db.db.PrepareContext(ctx,
		"UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2"); err != nil {
		return fmt.Errorf("sqlite: %s: prepare: %w", db.path, err)
	}
	return nil
}

func (db *DB) openErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("sqlite: open %s: not an SQLite database (corrupt, encrypted or another kind of file): %w", db.path, err)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
			return fmt.Errorf("sqlite: open %s: cannot open for writing (check the permissions of the file and its directory): %w", db.path, err)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: open %s: database is corrupt: %w", db.path, err)
		}
	}
	return fmt.Errorf("sqlite: open %s: %w", db.path, err)
}

// migrate applies the embedded migrations. When two processes open a new
// file at once, both may try the same migration; the loser's transaction
// fails, and it succeeds on a retry because nothing is pending any more.
func (db *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.db, fsys)
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	var upErr error
	for range 3 {
		if upErr = db.checkVersion(ctx, p); upErr != nil {
			return upErr
		}
		if _, upErr = p.Up(ctx); upErr == nil {
			return nil
		}
		if pending, err := p.HasPending(ctx); err == nil && !pending {
			return nil
		}
	}
	return db.openErr(fmt.Errorf("apply migrations: %w", upErr))
}

// checkVersion refuses a database written by a newer mcpgate: running old
// code on a newer schema would silently misread or damage it.
func (db *DB) checkVersion(ctx context.Context, p *goose.Provider) error {
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return db.openErr(fmt.Errorf("read schema version: %w", err))
	}
	sources := p.ListSources()
	known := sources[len(sources)-1].Version
	if current > known {
		return fmt.Errorf("sqlite: open %s: schema version %d is newer than this mcpgate supports (%d); upgrade mcpgate", db.path, current, known)
	}
	return nil
}

// SQL returns the underlying connection pool, for packages that keep their
// own tables in the same file. Transactions begun on it are IMMEDIATE:
// they take the write lock at BEGIN, waiting up to BusyTimeout for it.
// Read-only work should use plain queries, not transactions.
func (db *DB) SQL() *sql.DB { return db.db }

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the store.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.keyByID, db.touch} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	errs = append(errs, db.db.Close())
	return errors.Join(errs...)
}

// write runs fn as this process's only writer, waiting for its turn
// unless ctx ends first. Every write of this package should go through
// write or inTx; fn must not call either (the turn is not reentrant).
func (db *DB) write(ctx context.Context, fn func() error) error {
	select {
	case db.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.writer }()
	return fn()
}

// inTx runs fn in a transaction, committing if fn returns nil. The
// transaction is IMMEDIATE and waits for db.writer: fn is the only
// writer of the process.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return db.write(ctx, func() error {
		tx, err := db.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return errors.Join(err, ignoreDone(tx.Rollback()))
		}
		return tx.Commit()
	})
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// isConflict reports whether err is a primary key or unique violation.
func isConflict(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// Times are stored as microseconds since the epoch; the zero time as NULL.

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// encodeList stores a list of strings as a JSON array.
func encodeList(l []string) string {
	s, _ := encodeScopes(l) // marshalling strings cannot fail
	return s
}

// decodeList reads a JSON array of strings back, empty as nil.
func decodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	err := json.Unmarshal([]byte(s), &l)
	return l, err
}

// micro is a time that is never zero, as microseconds since the epoch.
func micro(t time.Time) int64 { return t.UnixMicro() }

// nowIfZero defaults a creation time to now.
func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

type scanner interface{ Scan(dest ...any) error }

// queryAll runs a query and scans every row with scan; errors name what
// (e.g. "list keys").
func queryAll[T any](ctx context.Context, db *DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return out, nil
}
