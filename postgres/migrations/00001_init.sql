-- Schema of the mcpgate PostgreSQL store. Tables are created in the first
-- schema of the connection's search_path.

-- +goose Up
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    subject      text NOT NULL,
    tenant       text NOT NULL DEFAULT '',
    scopes       text[] NOT NULL DEFAULT '{}',
    hash         bytea NOT NULL, -- digest of the secret; never the secret
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,    -- NULL: never
    last_used_at timestamptz,
    revoked_at   timestamptz,
    rotated_to   text NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_created ON api_keys (created_at DESC, id DESC);

CREATE TABLE notes (
    owner      text NOT NULL,
    id         text NOT NULL,
    title      text NOT NULL DEFAULT '',
    body       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    -- Ids are unique per owner only, so one owner cannot learn another's
    -- ids from a conflict.
    PRIMARY KEY (owner, id)
);
CREATE INDEX notes_owner_created ON notes (owner, created_at, id);

CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    request_id text NOT NULL DEFAULT '',
    subject    text NOT NULL DEFAULT '',
    tenant     text NOT NULL DEFAULT '',
    key_id     text NOT NULL DEFAULT '',
    client_id  text NOT NULL DEFAULT '',
    method     text NOT NULL DEFAULT '',
    target     text NOT NULL DEFAULT '',
    decision   text NOT NULL DEFAULT '',
    status     integer NOT NULL DEFAULT 0,
    latency_ns bigint NOT NULL DEFAULT 0,
    remote     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at, id);

-- The change feed: revocations and rotations that running servers (other
-- replicas, or servers whose CLI wrote the change) must act on. Writers
-- take an EXCLUSIVE lock on the table before inserting, so sequence
-- numbers become visible in commit order and a poller never skips one.
CREATE TABLE changes (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text NOT NULL,
    record_id text NOT NULL,
    at        timestamptz NOT NULL
);

-- +goose Down
DROP TABLE changes;
DROP TABLE audit_events;
DROP TABLE notes;
DROP TABLE api_keys;
