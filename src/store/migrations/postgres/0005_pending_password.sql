-- A sign-in waiting for its code remembers the password it proved: it becomes a session only
-- while the account still has that password, however the change and the code interleave.
-- Sign-ins waiting from before this version have none and expire (they live 5 minutes).
ALTER TABLE pending_logins ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
