-- Accounts, sessions, sign-in throttles, the first-start setup link, and server metadata.

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id                  BIGSERIAL PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,      -- normalised: trimmed, lowercase
    password_hash       TEXT NOT NULL,             -- argon2id PHC string
    is_admin            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,                -- SHA-256 of the cookie value
    user_id      BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL                   -- absolute lifetime
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- One row per throttled key ("email:<address>" or "ip:<address>"): a fixed window of failures.
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);

CREATE TABLE setup_tokens (
    token_hash BYTEA PRIMARY KEY,
    created_at BIGINT NOT NULL
);
