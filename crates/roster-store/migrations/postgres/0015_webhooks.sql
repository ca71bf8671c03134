-- Webhook endpoints of an organisation. Each follows the events feed with its own cursor: an
-- event is delivered, in order, until the endpoint answers 2xx, then the cursor moves past it;
-- nothing is queued elsewhere, so nothing is lost on a crash. Secrets are sealed.
CREATE TABLE webhook_endpoints (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id),
    url              TEXT NOT NULL,
    types            TEXT NOT NULL,
    sealed_secret    bytea NOT NULL,
    sealed_previous  bytea,
    previous_until   timestamptz,
    created_at       timestamptz NOT NULL,
    disabled_at      timestamptz,
    disabled_reason  TEXT,
    cursor_seq       bigint NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    failing_since    timestamptz,
    next_attempt_at  timestamptz NOT NULL,
    claimed_until    timestamptz
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id);
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (next_attempt_at) WHERE disabled_at IS NULL;

-- Each attempt to deliver an event, for the endpoint's delivery log.
CREATE TABLE webhook_deliveries (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL,
    endpoint_id  uuid NOT NULL,
    event_id     uuid NOT NULL,
    event_type   TEXT NOT NULL,
    at           timestamptz NOT NULL,
    status       INTEGER,
    duration_ms  INTEGER NOT NULL,
    response     TEXT,
    error        TEXT
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, at);
