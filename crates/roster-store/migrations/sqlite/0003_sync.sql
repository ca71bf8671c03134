-- Background work and provisioning runs.
--
-- jobs: typed, idempotent work items. A job with a dedup key is enqueued at most once while
-- it is pending or running (the partial unique index), so pressing "Sync users" twice or a
-- scheduler firing twice queues one sync. One writer at a time already serialises claims; a
-- job whose worker died is claimed again once `claimed_until` passes.
CREATE TABLE jobs (
    id             BLOB PRIMARY KEY,
    org_id         BLOB NOT NULL REFERENCES orgs (id),
    kind           TEXT NOT NULL,
    payload        TEXT NOT NULL,
    dedup_key      TEXT,
    run_at         TEXT NOT NULL,
    claimed_until  TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    finished_at    TEXT
);
CREATE UNIQUE INDEX jobs_dedup_live ON jobs (dedup_key) WHERE status IN ('pending', 'running') AND dedup_key IS NOT NULL;
CREATE INDEX jobs_due ON jobs (kind, run_at) WHERE status IN ('pending', 'running');

-- One row per sync of a connection: what the pages poll while it runs and show afterwards.
CREATE TABLE sync_runs (
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL REFERENCES orgs (id),
    connection_id   BLOB NOT NULL REFERENCES connections (id),
    trigger         TEXT NOT NULL,
    status          TEXT NOT NULL,
    queued_at       TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    progress        TEXT NOT NULL,
    report          TEXT,
    error           TEXT,
    graph_requests  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sync_runs_connection ON sync_runs (org_id, connection_id, queued_at DESC);

-- Named leadership: whoever holds `name` until `until` is the one process doing that duty
-- (the daily scheduler). A holder renews before it runs out; anyone may take an expired one.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   TEXT NOT NULL
);

-- Profile photos synced from an identity provider; the etag says whether it changed.
CREATE TABLE avatars (
    org_id        BLOB NOT NULL REFERENCES orgs (id),
    person_id     BLOB NOT NULL,
    etag          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    bytes         BLOB NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (org_id, person_id)
);
