package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Probe reports, without creating or changing anything, which schema the
// store at url would use and the version of mcpgate's migrations applied
// to it: 0 when the schema has never been migrated (or does not exist), so
// that a command can refuse to start a second, empty store by mistake.
// schema is the first schema of search_path, else the connection's
// current schema. Errors never include the password.
func Probe(ctx context.Context, url string) (schema string, version int64, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "", 0, fmt.Errorf("postgres: %w", err)
	}
	name := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", 0, fmt.Errorf("postgres: %s: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	schema = firstSchema(cfg.RuntimeParams["search_path"])
	if schema == "" {
		var cur *string
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&cur); err != nil {
			return "", 0, fmt.Errorf("postgres: %s: current schema: %w", name, err)
		}
		if cur == nil {
			return "", 0, nil
		}
		schema = *cur
	}
	var migrated bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_tables
		WHERE schemaname = $1 AND tablename = 'goose_db_version')`, schema).Scan(&migrated); err != nil {
		return schema, 0, fmt.Errorf("postgres: %s: look up schema %q: %w", name, schema, err)
	}
	if !migrated {
		return schema, 0, nil
	}
	q := "SELECT coalesce(max(version_id), 0) FROM " + pgx.Identifier{schema, "goose_db_version"}.Sanitize() + " WHERE is_applied"
	if err := conn.QueryRow(ctx, q).Scan(&version); err != nil {
		return schema, 0, fmt.Errorf("postgres: %s: read schema version: %w", name, err)
	}
	return schema, version, nil
}
