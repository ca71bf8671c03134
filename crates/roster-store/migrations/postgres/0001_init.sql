-- Roster's schema on PostgreSQL. Every table carries org_id, and every reference between rows is
-- a composite (org_id, id) foreign key, so a row can never point into another organisation.
-- Text the store range-searches or sorts by (e-mail, sort and last-name keys) is COLLATE "C":
-- byte order makes a prefix a plain index range and gives the same order as SQLite.

CREATE TABLE orgs (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE teams (
    org_id      uuid NOT NULL REFERENCES orgs (id),
    id          uuid NOT NULL,
    name        text NOT NULL,
    name_key    text COLLATE "C" NOT NULL,
    parent_id   uuid,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    CONSTRAINT teams_name_key UNIQUE (org_id, name_key),
    FOREIGN KEY (org_id, parent_id) REFERENCES teams (org_id, id)
);

CREATE TABLE people (
    org_id               uuid NOT NULL REFERENCES orgs (id),
    id                   uuid NOT NULL,
    email                text COLLATE "C" NOT NULL,
    first_name           text NOT NULL,
    last_name            text NOT NULL,
    job_title            text,
    department           text,
    location             text,
    language             text,
    hire_date            date,
    custom_fields        jsonb NOT NULL DEFAULT '{}',
    status               text NOT NULL CHECK (status IN ('invited', 'active', 'deactivated')),
    role                 text NOT NULL CHECK (role IN ('learner', 'manager', 'admin', 'owner')),
    primary_team_id      uuid,
    manager_id           uuid,
    avatar_url           text,
    source_connection_id uuid,
    source_external_id   text,
    activated            boolean NOT NULL DEFAULT false,
    password_hash        text,
    -- Lower-cased display name (the e-mail when there is no name): the sort order, and the
    -- column a name prefix search ranges over. Lower-cased in Rust, the same way on both backends.
    sort_key             text COLLATE "C" NOT NULL,
    -- Lower-cased last name, for a prefix search on it alone.
    last_key             text COLLATE "C" NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
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
    org_id      uuid NOT NULL,
    person_id   uuid NOT NULL,
    team_id     uuid NOT NULL,
    PRIMARY KEY (org_id, person_id, team_id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)
);
CREATE INDEX team_members_team ON team_members (org_id, team_id);

CREATE TABLE tokens (
    digest      text PRIMARY KEY,
    org_id      uuid NOT NULL,
    person_id   uuid NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX tokens_person ON tokens (org_id, person_id);

CREATE TABLE sessions (
    digest      text PRIMARY KEY,
    org_id      uuid NOT NULL,
    person_id   uuid NOT NULL,
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX sessions_person ON sessions (org_id, person_id);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    name         text NOT NULL,
    digest       text NOT NULL UNIQUE,
    prefix       text NOT NULL,
    created_by   uuid,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

-- The audit trail; seq orders it (newest first is seq descending).
CREATE TABLE audit_log (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid NOT NULL,
    org_id      uuid NOT NULL,
    at          timestamptz NOT NULL,
    run_id      uuid,
    actor       text NOT NULL,
    action      text NOT NULL,
    person_id   uuid,
    team_id     uuid,
    detail      jsonb NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, seq);
CREATE INDEX audit_log_person ON audit_log (org_id, person_id, seq) WHERE person_id IS NOT NULL;

-- The outbound event feed; seq is the cursor consumers resume from. Plans of one organisation
-- are applied one at a time (an advisory lock), so seq also follows commit order per organisation.
CREATE TABLE events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid NOT NULL,
    org_id      uuid NOT NULL,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    run_id      uuid,
    data        jsonb NOT NULL
);
CREATE INDEX events_org ON events (org_id, seq);

CREATE TABLE outbox_emails (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL,
    recipient       text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL,
    -- Nobody else sends this e-mail before then.
    claimed_until   timestamptz
);
CREATE INDEX outbox_emails_org ON outbox_emails (org_id, created_at);
CREATE INDEX outbox_emails_due ON outbox_emails (next_attempt_at) WHERE sent_at IS NULL;
