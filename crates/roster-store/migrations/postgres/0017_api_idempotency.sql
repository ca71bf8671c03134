-- The first answer to an API write sent with an Idempotency-Key, per API key, so a retry gets
-- the same answer instead of a second write. A claim without a status is being handled (or its
-- handler died: it is taken over after a minute). Kept a day.
CREATE TABLE api_idempotency (
    org_id       uuid NOT NULL,
    client       TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    claimed_at   timestamptz NOT NULL,
    status       INTEGER,
    headers      TEXT,
    body         TEXT,
    PRIMARY KEY (org_id, client, key)
);
CREATE INDEX api_idempotency_claimed ON api_idempotency (claimed_at);
