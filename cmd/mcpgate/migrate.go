package main

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mcpgate/mcpgate/postgres"
)

// MigrateCmd creates or upgrades the store.
type MigrateCmd struct{}

// Run opens the store, which creates it or applies pending migrations,
// and says which store it is and its schema version.
func (c *MigrateCmd) Run(e *env, g *Globals) error {
	var before int64 = -1 // unknown
	switch {
	case g.Store == "":
		if _, err := os.Stat(sqliteFile(g.Data)); errors.Is(err, fs.ErrNotExist) {
			before = 0
		}
	case g.isPostgres():
		u, err := g.storeURL()
		if err != nil {
			return err
		}
		_, v, err := postgres.Probe(e.ctx, u)
		if err != nil {
			return err
		}
		before = v
	}
	store, err := g.openStore(e)
	if err != nil {
		return err
	}
	defer store.Close()
	after, err := schemaVersion(store)
	if err != nil {
		return err
	}
	switch {
	case before == 0:
		fmt.Fprintf(e.stdout, "Created the store at schema version %d.\n", after)
	case before > 0 && before < after:
		fmt.Fprintf(e.stdout, "Upgraded the store from schema version %d to %d.\n", before, after)
	default:
		fmt.Fprintf(e.stdout, "The store is at schema version %d, the latest this mcpgate knows.\n", after)
	}
	return nil
}

// schemaVersion reads the version of the newest migration applied to
// store, from the table the stores' migrations keep.
func schemaVersion(store any) (int64, error) {
	db, ok := store.(interface{ SQL() *sql.DB })
	if !ok {
		return 0, errors.New("this store has no schema version")
	}
	var v int64
	if err := db.SQL().QueryRow("SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
