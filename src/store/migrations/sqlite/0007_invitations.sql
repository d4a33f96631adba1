-- Invitations (`nidan user invite`): the invited person chooses their own password through a
-- link; only the token's SHA-256 is kept. One per address: inviting again replaces it.
CREATE TABLE invitations (
    email      TEXT PRIMARY KEY,             -- normalised, as `users.email`
    token_hash BLOB NOT NULL UNIQUE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
