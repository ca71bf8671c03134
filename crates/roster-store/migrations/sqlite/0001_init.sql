-- Roster's schema on SQLite. Every table carries org_id, and every reference between rows is a
-- composite (org_id, id) foreign key, so a row can never point into another organisation.
-- Timestamps are RFC 3339 text with a fixed six-digit fraction, so text order is time order.
-- UUIDs are 16-byte blobs.

CREATE TABLE orgs (
    id          BLOB PRIMARY KEY NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE teams (
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    id          BLOB NOT NULL,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    parent_id   BLOB,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    CONSTRAINT teams_name_key UNIQUE (org_id, name_key),
    FOREIGN KEY (org_id, parent_id) REFERENCES teams (org_id, id)
);

CREATE TABLE people (
    org_id               BLOB NOT NULL REFERENCES orgs (id),
    id                   BLOB NOT NULL,
    email                TEXT NOT NULL,
    first_name           TEXT NOT NULL,
    last_name            TEXT NOT NULL,
    job_title            TEXT,
    department           TEXT,
    location             TEXT,
    language             TEXT,
    hire_date            TEXT,
    custom_fields        TEXT NOT NULL DEFAULT '{}',
    status               TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated')),
    role                 TEXT NOT NULL CHECK (role IN ('learner', 'manager', 'admin', 'owner')),
    primary_team_id      BLOB,
    manager_id           BLOB,
    avatar_url           TEXT,
    source_connection_id BLOB,
    source_external_id   TEXT,
    activated            INTEGER NOT NULL DEFAULT 0,
    password_hash        TEXT,
    -- Lower-cased display name (the e-mail when there is no name): the sort order, and the
    -- column a name prefix search ranges over. Lower-cased in Rust, as SQLite's lower() is ASCII only.
    sort_key             TEXT NOT NULL,
    -- Lower-cased last name, for a prefix search on it alone.
    last_key             TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    CONSTRAINT people_email_key UNIQUE (org_id, email),
    FOREIGN KEY (org_id, primary_team_id) REFERENCES teams (org_id, id),
    FOREIGN KEY (org_id, manager_id) REFERENCES people (org_id, id)
);
CREATE UNIQUE INDEX people_source_key ON people (org_id, source_connection_id, source_external_id)
    WHERE source_connection_id IS NOT NULL;
CREATE INDEX people_sort ON people (org_id, sort_key, id);
CREATE INDEX people_last_key ON people (org_id, last_key);
CREATE INDEX people_status ON people (org_id, status);
CREATE INDEX people_role ON people (org_id, role);
CREATE INDEX people_primary_team ON people (org_id, primary_team_id) WHERE primary_team_id IS NOT NULL;
CREATE INDEX people_manager ON people (org_id, manager_id) WHERE manager_id IS NOT NULL;

-- Secondary teams; the primary team is people.primary_team_id.
CREATE TABLE team_members (
    org_id      BLOB NOT NULL,
    person_id   BLOB NOT NULL,
    team_id     BLOB NOT NULL,
    PRIMARY KEY (org_id, person_id, team_id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)
);
CREATE INDEX team_members_team ON team_members (org_id, team_id);

CREATE TABLE tokens (
    digest      TEXT PRIMARY KEY NOT NULL,
    org_id      BLOB NOT NULL,
    person_id   BLOB NOT NULL,
    purpose     TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX tokens_person ON tokens (org_id, person_id);

CREATE TABLE sessions (
    digest      TEXT PRIMARY KEY NOT NULL,
    org_id      BLOB NOT NULL,
    person_id   BLOB NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX sessions_person ON sessions (org_id, person_id);

CREATE TABLE api_keys (
    id           BLOB PRIMARY KEY NOT NULL,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_by   BLOB,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- The audit trail; seq orders it (newest first is seq descending).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    id          BLOB NOT NULL,
    org_id      BLOB NOT NULL,
    at          TEXT NOT NULL,
    run_id      BLOB,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    person_id   BLOB,
    team_id     BLOB,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, seq);
CREATE INDEX audit_log_person ON audit_log (org_id, person_id, seq) WHERE person_id IS NOT NULL;

-- The outbound event feed; seq is the cursor consumers resume from.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    id          BLOB NOT NULL,
    org_id      BLOB NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    run_id      BLOB,
    data        TEXT NOT NULL
);
CREATE INDEX events_org ON events (org_id, seq);

CREATE TABLE outbox_emails (
    id              BLOB PRIMARY KEY NOT NULL,
    org_id          BLOB NOT NULL,
    recipient       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT NOT NULL,
    -- Nobody else sends this e-mail before then.
    claimed_until   TEXT
);
CREATE INDEX outbox_emails_org ON outbox_emails (org_id, created_at);
CREATE INDEX outbox_emails_due ON outbox_emails (next_attempt_at) WHERE sent_at IS NULL;
