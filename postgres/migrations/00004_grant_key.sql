-- The API key a grant was approved under, when the user signed in with an
-- API key instead of a password: every token of the grant dies with the
-- key. Empty means a password (or other non-key) sign-in.

-- +goose Up
ALTER TABLE oauth_grants ADD COLUMN key_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE oauth_grants DROP COLUMN key_id;
