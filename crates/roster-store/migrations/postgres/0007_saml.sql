-- SAML assertion IDs seen, per organisation and identity provider, kept until the assertion
-- expires: the Web SSO profile requires refusing a bearer assertion that is replayed. The
-- primary key makes "first use" an atomic insert, so two concurrent posts yield one session.
CREATE TABLE saml_assertions (
    org_id        uuid NOT NULL REFERENCES orgs (id),
    issuer        text NOT NULL,
    assertion_id  text NOT NULL,
    used_at       timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    PRIMARY KEY (org_id, issuer, assertion_id)
);
CREATE INDEX saml_assertions_expiry ON saml_assertions (expires_at);
