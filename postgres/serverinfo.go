package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate"
)

var _ mcpgate.ServerInfoStore = (*DB)(nil)

// upstreamJSON is the stored form of one mcpgate.UpstreamInfo.
type upstreamJSON struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// PutServerInfo replaces the server info record. A zero UpdatedAt is set
// to the current time.
func (db *DB) PutServerInfo(ctx context.Context, info *mcpgate.ServerInfo) error {
	if info == nil || info.PublicURL == "" {
		return errors.New("postgres: put server info: no public URL")
	}
	if info.UpdatedAt.IsZero() {
		info.UpdatedAt = time.Now().UTC()
	}
	ups := make([]upstreamJSON, len(info.Upstreams))
	for i, u := range info.Upstreams {
		ups[i] = upstreamJSON(u)
	}
	b, err := json.Marshal(ups)
	if err != nil {
		return fmt.Errorf("postgres: put server info: %w", err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO server_info (id, public_url, upstreams, updated_at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET public_url = excluded.public_url, upstreams = excluded.upstreams, updated_at = excluded.updated_at`,
		info.PublicURL, string(b), info.UpdatedAt); err != nil {
		return fmt.Errorf("postgres: put server info: %w", err)
	}
	return nil
}

// ServerInfo returns the server info record, or mcpgate.ErrNotFound.
func (db *DB) ServerInfo(ctx context.Context) (*mcpgate.ServerInfo, error) {
	var (
		info mcpgate.ServerInfo
		ups  []byte
	)
	err := db.pool.QueryRow(ctx, `SELECT public_url, upstreams, updated_at FROM server_info WHERE id = 1`).
		Scan(&info.PublicURL, &ups, &info.UpdatedAt)
	if errNoRows(err) {
		return nil, fmt.Errorf("postgres: server info: %w", mcpgate.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: server info: %w", err)
	}
	var list []upstreamJSON
	if err := json.Unmarshal(ups, &list); err != nil {
		return nil, fmt.Errorf("postgres: server info: upstreams: %w", err)
	}
	for _, u := range list {
		info.Upstreams = append(info.Upstreams, mcpgate.UpstreamInfo(u))
	}
	info.UpdatedAt = info.UpdatedAt.UTC()
	return &info, nil
}
