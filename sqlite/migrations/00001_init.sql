-- Schema of the mcpgate SQLite store. Times are INTEGER microseconds since
-- the Unix epoch in UTC; NULL means "never" (the zero time.Time).

-- +goose Up
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    subject      TEXT NOT NULL,
    tenant       TEXT NOT NULL DEFAULT '',
    scopes       TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    hash         BLOB NOT NULL,              -- digest of the secret; never the secret
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    rotated_to   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);

CREATE TABLE notes (
    owner      TEXT NOT NULL,
    id         TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    -- Ids are unique per owner only, so one owner cannot learn another's
    -- ids from a conflict.
    PRIMARY KEY (owner, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX notes_owner_created ON notes (owner, created_at, id);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    tenant     TEXT NOT NULL DEFAULT '',
    key_id     TEXT NOT NULL DEFAULT '',
    client_id  TEXT NOT NULL DEFAULT '',
    method     TEXT NOT NULL DEFAULT '',
    target     TEXT NOT NULL DEFAULT '',
    decision   TEXT NOT NULL DEFAULT '',
    status     INTEGER NOT NULL DEFAULT 0,
    latency_ns INTEGER NOT NULL DEFAULT 0,
    remote     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_events_at ON audit_events (at, id);

-- The change feed: revocations and rotations that running servers (another
-- process, another replica) must act on. AUTOINCREMENT so that a sequence
-- number is never reused, even after the newest rows are deleted.
CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT NOT NULL,
    record_id TEXT NOT NULL,
    at        INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE changes;
DROP TABLE audit_events;
DROP TABLE notes;
DROP TABLE api_keys;
