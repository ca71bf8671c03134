-- Sign-in with OpenID Connect. Pending requests are redeemed once (consumed_at), identity
-- links say which person a provider's subject is, refusals are kept for admins, and the
-- policy says whether people may still sign in by password.
CREATE TABLE sso_requests (
    state_digest     TEXT PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES orgs (id),
    connection_id    BLOB NOT NULL REFERENCES connections (id),
    nonce            TEXT NOT NULL,
    sealed_verifier  BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    consumed_at      TEXT
);
CREATE INDEX sso_requests_expiry ON sso_requests (expires_at);

CREATE TABLE sso_links (
    org_id         BLOB NOT NULL REFERENCES orgs (id),
    connection_id  BLOB NOT NULL REFERENCES connections (id),
    subject        TEXT NOT NULL,
    person_id      BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    last_used_at   TEXT NOT NULL,
    PRIMARY KEY (org_id, connection_id, subject),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX sso_links_person ON sso_links (org_id, person_id);

CREATE TABLE sso_refusals (
    id             BLOB PRIMARY KEY,
    org_id         BLOB NOT NULL REFERENCES orgs (id),
    connection_id  BLOB,
    at             TEXT NOT NULL,
    reason         TEXT NOT NULL,
    subject        TEXT,
    claimed_email  TEXT
);
CREATE INDEX sso_refusals_org ON sso_refusals (org_id, at);

CREATE TABLE sso_policies (
    org_id            BLOB PRIMARY KEY REFERENCES orgs (id),
    password_sign_in  BOOLEAN NOT NULL,
    updated_at        TEXT NOT NULL
);
