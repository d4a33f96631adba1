-- Where each session came from, the audit trail, and the devices accounts have signed in on.

ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    user_id    BIGINT,                   -- no foreign key: the trail outlives the account
    email      TEXT NOT NULL,            -- as typed (normalised) when no account matched
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_user ON audit_events(user_id, at);
CREATE INDEX audit_events_by_time ON audit_events(at);
CREATE INDEX audit_events_by_email ON audit_events(email, at);

-- A device is a browser holding the nidan_device cookie; only its SHA-256 is kept.
CREATE TABLE known_devices (
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_hash BYTEA NOT NULL,
    first_seen  BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_hash)
);
