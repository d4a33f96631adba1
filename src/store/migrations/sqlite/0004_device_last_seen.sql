-- Devices are remembered while they are in use and forgotten after the audit retention
-- without use, so that an account whose browser drops cookies does not grow without end.
ALTER TABLE known_devices ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
UPDATE known_devices SET last_seen = first_seen;
CREATE INDEX known_devices_by_last_seen ON known_devices(last_seen);
