-- Entra in real time. Per connection: the delta links its rounds continue from (NULL until a
-- full sync records where it read from), and the newest change notification not yet acted on.
CREATE TABLE entra_live (
    org_id         uuid NOT NULL,
    connection_id  uuid NOT NULL,
    users_link     TEXT,
    groups_link    TEXT,
    links_saved_at timestamptz,
    notified_at    timestamptz,
    PRIMARY KEY (org_id, connection_id)
);

-- The tenant's group memberships as the last round left them (direct members only): a delta
-- round reports changes, so whether a user is still under the sync group is worked out here.
CREATE TABLE entra_memberships (
    org_id          uuid NOT NULL,
    connection_id   uuid NOT NULL,
    group_id        TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    member_is_group BOOLEAN NOT NULL,
    PRIMARY KEY (org_id, connection_id, group_id, member_id)
);
CREATE INDEX entra_memberships_member ON entra_memberships (org_id, connection_id, member_id);

-- Change-notification subscriptions Roster holds at Graph. The id Graph gave is unique.
CREATE TABLE entra_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    org_id          uuid NOT NULL,
    connection_id   uuid NOT NULL,
    resource        TEXT NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX entra_subscriptions_connection ON entra_subscriptions (org_id, connection_id);
CREATE INDEX entra_subscriptions_expiry ON entra_subscriptions (expires_at);
