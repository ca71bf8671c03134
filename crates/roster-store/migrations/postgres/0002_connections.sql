-- Integrations with identity providers. Secrets are sealed before they arrive (JSON of
-- name -> sealed bytes); settings hold only what may be shown.
CREATE TABLE connections (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    kind        text NOT NULL,
    name        text NOT NULL,
    enabled     boolean NOT NULL DEFAULT false,
    settings    jsonb NOT NULL,
    sealed      jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX connections_org ON connections (org_id, created_at);
CREATE INDEX connections_enabled ON connections (kind) WHERE enabled;
