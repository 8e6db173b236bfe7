// Package postgres is the mcpgate store on PostgreSQL, for gateways that run
// as several replicas sharing one database.
//
// It talks to PostgreSQL through a pgxpool.Pool rather than database/sql:
// the hot paths (a key lookup on a cache miss, TouchKey, audit batches)
// then use pgx's automatic statement cache, native bytea, text[] and
// timestamptz values and one-round-trip batches. Goose and other packages
// that want database/sql get a *sql.DB over the same pool from [DB.SQL].
//
// Migrations are the files in migrations/, embedded and applied in order by
// goose when the store is opened. Other packages' tables join the same
// schema by adding migrations/000NN_name.sql.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mcpgate/mcpgate"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds every schema migration; goose applies them in the order
// of their numeric prefix.
//
//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open PostgreSQL store. It implements mcpgate.Store and is safe
// for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	sql  *sql.DB
	name string // where the store is, without credentials, for errors
}

var (
	_ mcpgate.Store      = (*DB)(nil)
	_ mcpgate.OAuthStore = (*DB)(nil)
)

// Open connects to the database at url and applies pending migrations.
//
// url is a PostgreSQL connection URL or keyword/value string as libpq
// takes it, plus pgxpool's pool_* settings, for example
//
//	postgres://mcpgate@db.internal:5432/mcpgate?sslmode=verify-full&pool_max_conns=20
//
// Any other query parameter is sent to the server as a run-time setting.
// In particular search_path selects the schema that holds mcpgate's
// tables, so that several gateways (or tests) share one database:
//
//	postgres://postgres@127.0.0.1:5432/test?search_path=mcpgate_staging
//
// Open creates that schema (the first one in search_path) if it does not
// exist. Several replicas may Open the same database at once: migrations
// are serialised with an advisory lock per schema.
//
// Open fails if the database is unreachable, or if its schema is newer
// than this build of mcpgate knows. Errors never include the password.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cc := cfg.ConnConfig
	db := &DB{name: fmt.Sprintf("postgres://%s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)}
	if sp := cc.RuntimeParams["search_path"]; sp != "" {
		db.name += "?search_path=" + sp
	}
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, db.errorf("open: %w", err)
	}
	db.sql = stdlib.OpenDBFromPool(db.pool)
	if err := db.init(ctx, cc.RuntimeParams["search_path"]); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) errorf(format string, args ...any) error {
	return fmt.Errorf("postgres: %s: "+format, append([]any{db.name}, args...)...)
}

func (db *DB) init(ctx context.Context, searchPath string) error {
	if err := db.pool.Ping(ctx); err != nil {
		return db.errorf("connect: %w", err)
	}
	if err := db.createSchema(ctx, searchPath); err != nil {
		return err
	}
	var schema *string
	if err := db.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return db.errorf("current schema: %w", err)
	}
	if schema == nil {
		return db.errorf("no schema of search_path %q exists", searchPath)
	}
	return db.migrate(ctx, *schema)
}

// createSchema creates the first schema of searchPath if it is missing, so
// that the tables do not silently land in a later one (such as public).
func (db *DB) createSchema(ctx context.Context, searchPath string) error {
	first := firstSchema(searchPath)
	if first == "" {
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", first).Scan(&exists); err != nil {
		return db.errorf("look up schema %q: %w", first, err)
	}
	if exists {
		return nil
	}
	// IF NOT EXISTS still fails with a unique violation when another
	// replica creates the schema at the same moment; that is success.
	_, err := db.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{first}.Sanitize())
	if err != nil && !isConflict(err) {
		return db.errorf("create schema %q: %w", first, err)
	}
	return nil
}

// firstSchema returns the name of the first schema of searchPath as
// PostgreSQL reads it, or "" when there is none or it is "$user".
func firstSchema(searchPath string) string {
	first, _, _ := strings.Cut(searchPath, ",")
	first = strings.TrimSpace(first)
	if first == "" || first == `"$user"` || first == "$user" {
		return ""
	}
	if unq, ok := strings.CutPrefix(first, `"`); ok {
		return strings.ReplaceAll(strings.TrimSuffix(unq, `"`), `""`, `"`)
	}
	return strings.ToLower(first) // unquoted identifiers fold to lower case
}

func (db *DB) migrate(ctx context.Context, schema string) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return db.errorf("migrations: %w", err)
	}
	// One advisory lock per schema: stores in different schemas of one
	// database migrate independently.
	h := fnv.New64a()
	h.Write([]byte("mcpgate migrations " + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
	if err != nil {
		return db.errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db.sql, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return db.errorf("migrations: %w", err)
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return db.errorf("read schema version: %w", err)
	}
	sources := p.ListSources()
	if known := sources[len(sources)-1].Version; current > known {
		return db.errorf("schema version %d is newer than this mcpgate supports (%d); upgrade mcpgate", current, known)
	}
	if _, err := p.Up(ctx); err != nil {
		return db.errorf("apply migrations: %w", err)
	}
	return nil
}

// Pool returns the connection pool, for packages that keep their own
// tables in the same schema.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQL returns a database/sql handle over the same pool.
func (db *DB) SQL() *sql.DB { return db.sql }

// Close closes the store.
func (db *DB) Close() error {
	err := db.sql.Close()
	db.pool.Close()
	return err
}

// inTx runs fn in a transaction, committing if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, fn)
}

// isConflict reports whether err is a unique violation.
func isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func errNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// encodeList stores nil as an empty array, as the columns are NOT NULL.
func encodeList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// decodeList reads an empty array back as nil.
func decodeList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// nowIfZero defaults a creation time to now.
func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

// affected turns "no row changed" into mcpgate.ErrNotFound.
func affected(tag interface{ RowsAffected() int64 }, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return mcpgate.ErrNotFound
	}
	return nil
}

// The zero time is stored as NULL.

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// queryAll runs a query and scans every row with scan; errors name what
// (e.g. "list keys").
func queryAll[T any](ctx context.Context, db *DB, what string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return out, nil
}
