-- Okta event hooks are delivered at least once: each delivery's eventId and each System Log
-- event's uuid is kept a week, so a repeat is acted on once.
CREATE TABLE okta_hook_events (
    org_id         uuid NOT NULL,
    connection_id  uuid NOT NULL,
    event_key      TEXT NOT NULL,
    received_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, connection_id, event_key)
);
CREATE INDEX okta_hook_events_received ON okta_hook_events (received_at);

-- The users a hook named, waiting to be read again from Okta (a hook is a trigger, not data).
-- A job takes them; a crash before it finishes leaves them here for the next one.
CREATE TABLE okta_hook_users (
    org_id         uuid NOT NULL,
    connection_id  uuid NOT NULL,
    user_id        TEXT NOT NULL,
    queued_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, connection_id, user_id)
);
