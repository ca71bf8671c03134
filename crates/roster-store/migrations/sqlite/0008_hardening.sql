-- What a security review asked for: owners and admins a connection may not manage unless an
-- owner lets it, sign-in throttling, runs whose process died, and an outbox with no live links.

-- An owner let provisioning connections link, re-address and deactivate this owner or admin.
ALTER TABLE people ADD COLUMN provisioning_allowed INTEGER NOT NULL DEFAULT 0;

-- Failed sign-ins and reset requests, per key (an account of an organisation, a client
-- address, a reset address). `failures` counts within the window that began at
-- `window_started_at`; nobody behind the key is heard again before `blocked_until`.
CREATE TABLE throttle (
    key                TEXT PRIMARY KEY NOT NULL,
    failures           INTEGER NOT NULL,
    window_started_at  TEXT NOT NULL,
    blocked_until      TEXT
);

-- A running sync proves it is alive by pushing this forward; one left behind is a run whose
-- process stopped, and is marked failed.
ALTER TABLE sync_runs ADD COLUMN alive_until TEXT;

-- Links are minted when an e-mail is sent, never stored: drop those queued before.
UPDATE outbox_emails SET payload = json_remove(payload, '$.token');
