-- Integrations with identity providers. Secrets are sealed before they arrive (JSON of
-- name -> sealed bytes); settings hold only what may be shown.
CREATE TABLE connections (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT 0,
    settings    TEXT NOT NULL,
    sealed      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX connections_org ON connections (org_id, created_at);
CREATE INDEX connections_enabled ON connections (kind) WHERE enabled;
