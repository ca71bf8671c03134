-- What a stored sign-in request is for (an OpenID sign-in, a SAML sign-in or its test, a SAML
-- hand-over, an Entra admin consent), instead of a mark inside the nonce. Requests live ten
-- minutes: those in flight at the upgrade are forgotten, and their people start again.
DELETE FROM sso_requests;
ALTER TABLE sso_requests ADD COLUMN purpose TEXT NOT NULL DEFAULT 'oidc';
