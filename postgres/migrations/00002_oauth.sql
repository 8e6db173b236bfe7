-- Tables of the embedded OAuth authorization server. Secrets are never
-- stored: authorization codes, refresh tokens and client secrets only as
-- SHA-256 digests.

-- +goose Up
CREATE TABLE oauth_clients (
    id            text PRIMARY KEY,
    name          text NOT NULL DEFAULT '',
    redirect_uris text[] NOT NULL DEFAULT '{}',
    secret_hash   bytea,                 -- NULL: public client
    grant_types   text[] NOT NULL DEFAULT '{}',
    scopes        text[] NOT NULL DEFAULT '{}',
    subject       text NOT NULL DEFAULT '',
    tenant        text NOT NULL DEFAULT '',
    source        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX oauth_clients_created ON oauth_clients (created_at DESC, id DESC);

CREATE TABLE oauth_grants (
    id         text PRIMARY KEY,
    subject    text NOT NULL,
    tenant     text NOT NULL DEFAULT '',
    client_id  text NOT NULL,
    scopes     text[] NOT NULL DEFAULT '{}',
    resource   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    last_used  timestamptz,
    revoked_at timestamptz
);
CREATE INDEX oauth_grants_subject ON oauth_grants (subject, client_id, resource, created_at DESC);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);

-- Pending authorization requests, then the code they were approved with.
CREATE TABLE oauth_auth_requests (
    id             text PRIMARY KEY,
    client_id      text NOT NULL,
    redirect_uri   text NOT NULL,
    state          text NOT NULL DEFAULT '',
    scopes         text[] NOT NULL DEFAULT '{}',
    resource       text NOT NULL DEFAULT '',
    code_challenge text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    subject        text NOT NULL DEFAULT '',
    tenant         text NOT NULL DEFAULT '',
    grant_id       text NOT NULL DEFAULT '',
    code_hash      bytea UNIQUE,
    used_at        timestamptz
);
CREATE INDEX oauth_auth_requests_expires ON oauth_auth_requests (expires_at);

CREATE TABLE oauth_refresh_tokens (
    hash       bytea PRIMARY KEY,
    family     text NOT NULL,
    grant_id   text NOT NULL DEFAULT '',
    client_id  text NOT NULL,
    subject    text NOT NULL,
    tenant     text NOT NULL DEFAULT '',
    scopes     text[] NOT NULL DEFAULT '{}',
    resource   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (family);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_client ON oauth_refresh_tokens (client_id);
CREATE INDEX oauth_refresh_tokens_expires ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_signing_keys (
    id          text PRIMARY KEY,
    alg         text NOT NULL,
    private_key bytea NOT NULL, -- PKCS #8 DER, or AES-GCM sealed
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

-- +goose Down
DROP TABLE oauth_signing_keys;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_auth_requests;
DROP TABLE oauth_grants;
DROP TABLE oauth_clients;
