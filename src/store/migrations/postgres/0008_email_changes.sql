-- Changes of an account's email address waiting for the link sent to the new address; only
-- the token's SHA-256 is kept. Each remembers the account's address and password when it was
-- asked for: another change of either kills it. One per account: asking again replaces it.
CREATE TABLE email_changes (
    token_hash    BYTEA PRIMARY KEY,
    user_id       BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    old_email     TEXT NOT NULL,
    new_email     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    password_hash TEXT NOT NULL
);
