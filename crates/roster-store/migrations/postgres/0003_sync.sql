-- Background work and provisioning runs.
--
-- jobs: typed, idempotent work items. A job with a dedup key is enqueued at most once while
-- it is pending or running (the partial unique index), so pressing "Sync users" twice or a
-- scheduler firing on two processes queues one sync. Workers claim due jobs with
-- FOR UPDATE SKIP LOCKED and hold them until `claimed_until`; a job whose worker died is
-- claimed again once that passes.
CREATE TABLE jobs (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs (id),
    kind           text NOT NULL,
    payload        jsonb NOT NULL,
    dedup_key      text,
    run_at         timestamptz NOT NULL,
    claimed_until  timestamptz,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    status         text NOT NULL,
    created_at     timestamptz NOT NULL,
    finished_at    timestamptz
);
CREATE UNIQUE INDEX jobs_dedup_live ON jobs (dedup_key) WHERE status IN ('pending', 'running') AND dedup_key IS NOT NULL;
CREATE INDEX jobs_due ON jobs (kind, run_at) WHERE status IN ('pending', 'running');

-- One row per sync of a connection: what the pages poll while it runs and show afterwards.
CREATE TABLE sync_runs (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id),
    connection_id   uuid NOT NULL REFERENCES connections (id),
    trigger         text NOT NULL,
    status          text NOT NULL,
    queued_at       timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    progress        jsonb NOT NULL,
    report          jsonb,
    error           text,
    graph_requests  bigint NOT NULL DEFAULT 0
);
CREATE INDEX sync_runs_connection ON sync_runs (org_id, connection_id, queued_at DESC);

-- Named leadership: whoever holds `name` until `until` is the one process doing that duty
-- (the daily scheduler). A holder renews before it runs out; anyone may take an expired one.
CREATE TABLE leases (
    name    text PRIMARY KEY,
    holder  text NOT NULL,
    until   timestamptz NOT NULL
);

-- Profile photos synced from an identity provider; the etag says whether it changed.
CREATE TABLE avatars (
    org_id        uuid NOT NULL REFERENCES orgs (id),
    person_id     uuid NOT NULL,
    etag          text NOT NULL,
    content_type  text NOT NULL,
    bytes         bytea NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, person_id)
);
