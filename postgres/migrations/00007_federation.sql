-- Federated sign-in: sign-ins in progress at an upstream OpenID provider
-- (login_states, read once, minutes long), and the provider's tokens for
-- each federated user (idp_tokens), sealed with the encryption key.

-- +goose Up
CREATE TABLE login_states (
    state_hash bytea PRIMARY KEY,
    issuer text NOT NULL,
    nonce text NOT NULL,
    verifier text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_states_expires_at ON login_states (expires_at);

CREATE TABLE idp_tokens (
    subject text PRIMARY KEY,
    issuer text NOT NULL,
    access_token bytea NOT NULL,
    refresh_token bytea,
    expiry timestamptz,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE idp_tokens;
DROP TABLE login_states;
