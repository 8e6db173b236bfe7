-- Tables of the embedded OAuth authorization server. Times are INTEGER
-- microseconds since the Unix epoch in UTC; NULL means "never". Secrets are
-- never stored: authorization codes, refresh tokens and client secrets only
-- as SHA-256 digests.

-- +goose Up
CREATE TABLE oauth_clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL DEFAULT '',
    redirect_uris TEXT NOT NULL DEFAULT '[]', -- JSON array
    secret_hash   BLOB,                       -- NULL: public client
    grant_types   TEXT NOT NULL DEFAULT '[]',
    scopes        TEXT NOT NULL DEFAULT '[]',
    subject       TEXT NOT NULL DEFAULT '',
    tenant        TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX oauth_clients_created ON oauth_clients (created_at DESC, id DESC);

CREATE TABLE oauth_grants (
    id         TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    tenant     TEXT NOT NULL DEFAULT '',
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL DEFAULT '[]',
    resource   TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_used  INTEGER,
    revoked_at INTEGER
) STRICT;
CREATE INDEX oauth_grants_subject ON oauth_grants (subject, client_id, resource, created_at DESC);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);

-- Pending authorization requests, then the code they were approved with.
CREATE TABLE oauth_auth_requests (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT '',
    scopes         TEXT NOT NULL DEFAULT '[]',
    resource       TEXT NOT NULL DEFAULT '',
    code_challenge TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    subject        TEXT NOT NULL DEFAULT '',
    tenant         TEXT NOT NULL DEFAULT '',
    grant_id       TEXT NOT NULL DEFAULT '',
    code_hash      BLOB UNIQUE,
    used_at        INTEGER
) STRICT;
CREATE INDEX oauth_auth_requests_expires ON oauth_auth_requests (expires_at);

CREATE TABLE oauth_refresh_tokens (
    hash       BLOB PRIMARY KEY,
    family     TEXT NOT NULL,
    grant_id   TEXT NOT NULL DEFAULT '',
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    tenant     TEXT NOT NULL DEFAULT '',
    scopes     TEXT NOT NULL DEFAULT '[]',
    resource   TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (family);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_client ON oauth_refresh_tokens (client_id);
CREATE INDEX oauth_refresh_tokens_expires ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_key BLOB NOT NULL, -- PKCS #8 DER, or AES-GCM sealed
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
) STRICT;

-- +goose Down
DROP TABLE oauth_signing_keys;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_auth_requests;
DROP TABLE oauth_grants;
DROP TABLE oauth_clients;
