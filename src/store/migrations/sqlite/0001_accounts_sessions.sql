-- Accounts, sessions, sign-in throttles, the first-start setup link, and server metadata.

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,      -- normalised: trimmed, lowercase
    password_hash TEXT NOT NULL,             -- argon2id PHC string
    is_admin      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY NOT NULL,  -- SHA-256 of the cookie value
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL            -- absolute lifetime
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- One row per throttled key ("email:<address>" or "ip:<address>"): a fixed window of failures.
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY NOT NULL,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL
);

CREATE TABLE setup_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);
