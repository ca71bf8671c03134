-- The SCIM 2.0 server: bearer tokens, resources as the client wrote them, group memberships
-- and a log of requests. Tokens are stored as SHA-256 digests only.
CREATE TABLE scim_tokens (
    id             BLOB PRIMARY KEY,
    org_id         BLOB NOT NULL REFERENCES orgs (id),
    connection_id  BLOB NOT NULL REFERENCES connections (id),
    name           TEXT NOT NULL,
    digest         TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    last_used_at   TEXT,
    revoked_at     TEXT
);
CREATE INDEX scim_tokens_org ON scim_tokens (org_id, created_at);

-- `id` is a UUIDv7: never reused, and ordering by it is creation order, which keeps paging
-- stable. The *_key columns are lower-cased copies for case-insensitive lookups and uniqueness.
CREATE TABLE scim_resources (
    org_id            BLOB NOT NULL REFERENCES orgs (id),
    id                BLOB NOT NULL,
    connection_id     BLOB NOT NULL REFERENCES connections (id),
    resource_type     TEXT NOT NULL CHECK (resource_type IN ('User', 'Group')),
    external_id       TEXT,
    user_name         TEXT,
    user_name_key     TEXT,
    display_name      TEXT,
    display_name_key  TEXT,
    document          TEXT NOT NULL,
    version           INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    person_id         BLOB,
    team_id           BLOB,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)
);
CREATE INDEX scim_resources_type ON scim_resources (org_id, resource_type, id);
CREATE UNIQUE INDEX scim_resources_user_name ON scim_resources (org_id, user_name_key) WHERE resource_type = 'User';
CREATE UNIQUE INDEX scim_resources_group_display_name ON scim_resources (org_id, display_name_key) WHERE resource_type = 'Group';
CREATE INDEX scim_resources_display_name ON scim_resources (org_id, resource_type, display_name_key);
CREATE INDEX scim_resources_external_id ON scim_resources (org_id, resource_type, external_id);
CREATE INDEX scim_resources_updated ON scim_resources (org_id, resource_type, updated_at);
CREATE UNIQUE INDEX scim_resources_person ON scim_resources (org_id, person_id) WHERE person_id IS NOT NULL;

CREATE TABLE scim_group_members (
    org_id     BLOB NOT NULL,
    group_id   BLOB NOT NULL,
    member_id  BLOB NOT NULL,
    PRIMARY KEY (org_id, group_id, member_id),
    FOREIGN KEY (org_id, group_id) REFERENCES scim_resources (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, member_id) REFERENCES scim_resources (org_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_member ON scim_group_members (org_id, member_id);

CREATE TABLE scim_requests (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES orgs (id),
    token_id         BLOB,
    at               TEXT NOT NULL,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    status           INTEGER NOT NULL,
    duration_micros  INTEGER NOT NULL,
    error            TEXT
);
CREATE INDEX scim_requests_org ON scim_requests (org_id, at);
