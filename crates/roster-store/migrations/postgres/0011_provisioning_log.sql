-- What a provisioning run decided about a person without changing them: a record skipped
-- (with the reason) or a deactivation held by the guard. With the audit log (what runs did
-- change) it is the per-person provisioning log; rows older than 30 days are purged. The
-- connection is not a foreign key: the log outlives a deleted connection until it is purged.
CREATE TABLE provisioning_log (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs (id),
    connection_id  uuid,
    run_id         uuid,
    at             timestamptz NOT NULL,
    person_id      uuid,
    subject        TEXT NOT NULL,
    outcome        TEXT NOT NULL CHECK (outcome IN ('skipped', 'held')),
    detail         TEXT NOT NULL
);
CREATE INDEX provisioning_log_subject ON provisioning_log (org_id, subject, at);
CREATE INDEX provisioning_log_person ON provisioning_log (org_id, person_id, at);
CREATE INDEX provisioning_log_at ON provisioning_log (at);
