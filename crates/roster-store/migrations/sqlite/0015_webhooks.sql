-- Webhook endpoints of an organisation. Each follows the events feed with its own cursor: an
-- event is delivered, in order, until the endpoint answers 2xx, then the cursor moves past it;
-- nothing is queued elsewhere, so nothing is lost on a crash. Secrets are sealed.
CREATE TABLE webhook_endpoints (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES orgs (id),
    url              TEXT NOT NULL,
    types            TEXT NOT NULL,
    sealed_secret    BLOB NOT NULL,
    sealed_previous  BLOB,
    previous_until   TEXT,
    created_at       TEXT NOT NULL,
    disabled_at      TEXT,
    disabled_reason  TEXT,
    cursor_seq       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    failing_since    TEXT,
    next_attempt_at  TEXT NOT NULL,
    claimed_until    TEXT
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (next_attempt_at) WHERE disabled_at IS NULL;

-- Each attempt to deliver an event, for the endpoint's delivery log.
CREATE TABLE webhook_deliveries (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL,
    endpoint_id  BLOB NOT NULL,
    event_id     BLOB NOT NULL,
    event_type   TEXT NOT NULL,
    at           TEXT NOT NULL,
    status       INTEGER,
    duration_ms  INTEGER NOT NULL,
    response     TEXT,
    error        TEXT
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, at);
