-- What the running server tells the CLI about itself: its public URL and
-- the URLs of the MCP servers it fronts (JSON). One row; replicas share
-- their URLs, so the last writer wins.

-- +goose Up
CREATE TABLE server_info (
    id         integer PRIMARY KEY CHECK (id = 1),
    public_url text NOT NULL,
    upstreams  jsonb NOT NULL DEFAULT '[]',
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE server_info;
