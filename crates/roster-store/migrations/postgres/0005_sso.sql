-- Sign-in with OpenID Connect. Pending requests are redeemed once (consumed_at), identity
-- links say which person a provider's subject is, refusals are kept for admins, and the
-- policy says whether people may still sign in by password.
CREATE TABLE sso_requests (
    state_digest     text PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id),
    connection_id    uuid NOT NULL REFERENCES connections (id),
    nonce            text NOT NULL,
    sealed_verifier  bytea NOT NULL,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    consumed_at      timestamptz
);
CREATE INDEX sso_requests_expiry ON sso_requests (expires_at);

CREATE TABLE sso_links (
    org_id         uuid NOT NULL REFERENCES orgs (id),
    connection_id  uuid NOT NULL REFERENCES connections (id),
    subject        text NOT NULL,
    person_id      uuid NOT NULL,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, connection_id, subject),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX sso_links_person ON sso_links (org_id, person_id);

CREATE TABLE sso_refusals (
    id             uuid PRIMARY KEY,
    org_id         uuid NOT NULL REFERENCES orgs (id),
    connection_id  uuid,
    at             timestamptz NOT NULL,
    reason         text NOT NULL,
    subject        text,
    claimed_email  text
);
CREATE INDEX sso_refusals_org ON sso_refusals (org_id, at);

CREATE TABLE sso_policies (
    org_id            uuid PRIMARY KEY REFERENCES orgs (id),
    password_sign_in  boolean NOT NULL,
    updated_at        timestamptz NOT NULL
);
