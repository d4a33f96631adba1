-- Links to choose a new password (「パスワードをお忘れの方」): only the token's SHA-256 is kept.
-- Each remembers the password the account had when it was made: a changed password kills it.
CREATE TABLE password_resets (
    token_hash    BLOB PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE INDEX password_resets_by_user ON password_resets(user_id);
