-- Sign-in sessions of the login pages, shared by every replica. A session
-- is found by the SHA-256 of its id; the id itself is only ever in the
-- browser's cookie.

-- +goose Up
CREATE TABLE signin_sessions (
    id_hash    bytea PRIMARY KEY,     -- SHA-256 of the session id
    seq        bigserial NOT NULL,    -- creation order: the oldest go first
    subject    text NOT NULL,
    tenant     text NOT NULL DEFAULT '',
    method     text NOT NULL,
    key_id     text NOT NULL DEFAULT '',
    scopes     text[] NOT NULL DEFAULT '{}',
    capped     boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX signin_sessions_subject ON signin_sessions (subject, seq);
CREATE INDEX signin_sessions_expires ON signin_sessions (expires_at);

-- +goose Down
DROP TABLE signin_sessions;
