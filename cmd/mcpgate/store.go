package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/postgres"
	"github.com/mcpgate/mcpgate/secret"
	"github.com/mcpgate/mcpgate/sqlite"
)

// errNoStore is returned when a command that does not create the store
// finds none where it looked.
var errNoStore = errors.New("no store")

// isPostgres reports whether --store names a Postgres store.
func (g *Globals) isPostgres() bool {
	u := g.Store
	if secret.IsReference(u) {
		return true // checked once the reference is read
	}
	u = strings.TrimPrefix(u, "literal:")
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openStore opens the configured store: Postgres when --store is a postgres
// URL, otherwise SQLite under --data. Only serve and migrate (and any
// command given --init) create it; the others refuse when there is none,
// naming where they looked, since a store created by mistake in the wrong
// place holds none of the server's keys and every request with them would
// get a bare 401. Commands other than serve, which logs it, name the store
// on standard error.
func (g *Globals) openStore(e *env) (mcpgate.Store, error) {
	var (
		store mcpgate.Store
		err   error
	)
	u, err := g.storeURL()
	if err != nil {
		return nil, err
	}
	switch {
	case u == "":
		store, err = g.openSQLite(e)
	case strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://"):
		store, err = g.openPostgres(e, u)
	default:
		return nil, usageError{fmt.Errorf("--store %s must be a postgres:// URL, or empty for SQLite", describeStore(g.Store))}
	}
	if err != nil {
		return nil, err
	}
	return store, nil
}

func (g *Globals) openSQLite(e *env) (mcpgate.Store, error) {
	path := sqliteFile(g.Data)
	if !g.createsStore() {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			from := ""
			if g.dataFrom != "" {
				from = fmt.Sprintf(" (--data is %s, %s)", g.Data, g.dataFrom)
			}
			return nil, fmt.Errorf("%w at %s%s.\n"+
				"Point at the server's store with --data DIR or MCPGATE_DATA (SQLite), or --store postgres://… or MCPGATE_STORE (Postgres);\n"+
				"or create one here with `mcpgate migrate` (scripts: --init)", errNoStore, path, from)
		}
	}
	db, err := sqlite.Open(e.ctx, g.Data)
	if err != nil {
		return nil, err
	}
	g.announce(e, "SQLite store "+path)
	return db, nil
}

func (g *Globals) openPostgres(e *env, u string) (mcpgate.Store, error) {
	if !g.createsStore() {
		schema, version, err := postgres.Probe(e.ctx, u)
		if err != nil {
			return nil, err
		}
		if version == 0 {
			return nil, fmt.Errorf("%w in schema %q of %s: it was never migrated.\n"+
				"Point at the server's store with --store or MCPGATE_STORE (search_path=SCHEMA picks the schema);\n"+
				"or create one there with `mcpgate migrate` (scripts: --init)", errNoStore, schema, describeStore(g.Store))
		}
	}
	db, err := postgres.Open(e.ctx, u)
	if err != nil {
		return nil, err
	}
	g.announce(e, "Postgres store "+describeStore(g.Store))
	return db, nil
}

// createsStore reports whether the command creates the store when there is
// none: serve and migrate do, any other only with --init.
func (g *Globals) createsStore() bool {
	return g.Init || g.command == "serve" || g.command == "migrate"
}

// announce names the store on standard error, so that a command run
// against the wrong one says so.
func (g *Globals) announce(e *env, what string) {
	if g.command == "serve" {
		return
	}
	fmt.Fprintf(e.stderr, "mcpgate: using %s\n", what)
}

// sqliteFile is the absolute path of the SQLite database in dir, as far as
// it can be made absolute.
func sqliteFile(dir string) string {
	path := filepath.Join(dir, sqlite.FileName)
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// describeStore names the store URL setting without its password: a
// reference as given, a URL without its password.
func describeStore(s string) string {
	if secret.IsReference(s) {
		return s
	}
	return redactURL(strings.TrimPrefix(s, "literal:"))
}

// redactURL returns a store URL without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the --store URL"
	}
	return u.Redacted()
}
