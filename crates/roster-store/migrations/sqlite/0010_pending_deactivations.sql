-- Deactivations a SCIM client asked for beyond its connection's deactivation guard: the
-- client was answered as usual, the person stays active, and an admin applies or discards.
CREATE TABLE pending_deactivations (
    org_id         BLOB NOT NULL REFERENCES orgs (id),
    person_id      BLOB NOT NULL,
    connection_id  BLOB NOT NULL REFERENCES connections (id),
    asked_at       TEXT NOT NULL,
    PRIMARY KEY (org_id, person_id)
);
CREATE INDEX pending_deactivations_connection ON pending_deactivations (org_id, connection_id);
-- The guard counts a connection's recent deactivations from the audit log; only those rows.
CREATE INDEX audit_log_deactivations ON audit_log (org_id, actor, at) WHERE action = 'user.deactivated';
