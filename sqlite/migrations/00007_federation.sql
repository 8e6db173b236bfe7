-- Federated sign-in: sign-ins in progress at an upstream OpenID provider
-- (login_states, read once, minutes long), and the provider's tokens for
-- each federated user (idp_tokens), sealed with the encryption key.

-- +goose Up
CREATE TABLE login_states (
    state_hash BLOB PRIMARY KEY,
    issuer TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX login_states_expires_at ON login_states (expires_at);

CREATE TABLE idp_tokens (
    subject TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    access_token BLOB NOT NULL,
    refresh_token BLOB,
    expiry INTEGER,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE idp_tokens;
DROP TABLE login_states;
