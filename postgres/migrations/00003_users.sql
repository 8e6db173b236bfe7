-- Local login users of the embedded authorization server.

-- +goose Up
CREATE TABLE users (
    name          text PRIMARY KEY,          -- exact, case-sensitive; the token subject
    tenant        text NOT NULL DEFAULT '',
    password_hash text NOT NULL,             -- PHC argon2id string; never the password
    scopes        text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz                -- NULL: enabled
);

-- +goose Down
DROP TABLE users;
