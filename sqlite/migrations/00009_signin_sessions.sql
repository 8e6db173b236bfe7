-- Sign-in sessions of the login pages, shared by every process on the
-- store. A session is found by the SHA-256 of its id; the id itself is
-- only ever in the browser's cookie.

-- +goose Up
CREATE TABLE signin_sessions (
    seq        INTEGER PRIMARY KEY,   -- creation order: the oldest go first
    id_hash    BLOB NOT NULL UNIQUE,  -- SHA-256 of the session id
    subject    TEXT NOT NULL,
    tenant     TEXT NOT NULL DEFAULT '',
    method     TEXT NOT NULL,
    key_id     TEXT NOT NULL DEFAULT '',
    scopes     TEXT NOT NULL DEFAULT '[]',
    capped     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,      -- microseconds since the epoch
    expires_at INTEGER NOT NULL
);
CREATE INDEX signin_sessions_subject ON signin_sessions (subject, seq);
CREATE INDEX signin_sessions_expires ON signin_sessions (expires_at);

-- +goose Down
DROP TABLE signin_sessions;
