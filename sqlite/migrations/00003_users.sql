-- Local login users of the embedded authorization server. Times are INTEGER
-- microseconds since the Unix epoch in UTC; NULL means "never".

-- +goose Up
CREATE TABLE users (
    name          TEXT PRIMARY KEY,           -- exact, case-sensitive; the token subject
    tenant        TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,              -- PHC argon2id string; never the password
    scopes        TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE users;
