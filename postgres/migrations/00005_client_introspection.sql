-- Clients registered to introspect tokens issued to other clients (RFC
-- 7662), such as resource servers (mcpgate clients add --introspection).
-- Every other client may introspect only its own tokens.

-- +goose Up
ALTER TABLE oauth_clients ADD COLUMN introspection boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN introspection;
