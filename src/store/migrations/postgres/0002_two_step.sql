-- Two-step verification: the confirmed TOTP credential, a set-up in progress (bound to the
-- session that started it), backup codes (keyed hashes only), and sign-ins waiting for
-- their second step.

CREATE TABLE totp_credentials (
    user_id        BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret  BYTEA NOT NULL,                 -- AES-256-GCM under the server key
    last_used_step BIGINT NOT NULL,                -- only a later step is ever accepted
    enabled_at     BIGINT NOT NULL
);

CREATE TABLE totp_enrollments (
    session_hash  BYTEA PRIMARY KEY REFERENCES sessions(token_hash) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sealed_secret BYTEA NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE backup_codes (
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,                      -- HMAC-SHA256 under a subkey of the server key
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE pending_logins (
    token_hash BYTEA PRIMARY KEY,                  -- SHA-256 of the nidan_pending cookie
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failures   BIGINT NOT NULL DEFAULT 0,
    next       TEXT NOT NULL DEFAULT ''            -- where to go afterwards (a local path)
);
CREATE INDEX pending_logins_by_user ON pending_logins(user_id);
