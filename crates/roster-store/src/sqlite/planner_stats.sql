-- Pinned planner statistics for Roster's own tables: the shape of a large multi-tenant
-- directory (about 100,000 people per organisation, few distinct statuses and roles, unique
-- e-mails, small teams and manager spans). `tbl`, `idx`, then the rows in the index and the
-- average rows per distinct value of each leading column set.
DELETE FROM sqlite_stat1 WHERE tbl IN
    ('orgs', 'teams', 'people', 'team_members', 'team_managers', 'tokens', 'sessions', 'api_keys', 'audit_log', 'events', 'outbox_emails');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('orgs', 'sqlite_autoindex_orgs_1', '1000 1'),
    ('orgs', 'sqlite_autoindex_orgs_2', '1000 1'),
    ('teams', 'sqlite_autoindex_teams_1', '100000 100 1'),
    ('teams', 'sqlite_autoindex_teams_2', '100000 100 1'),
    ('people', 'sqlite_autoindex_people_1', '1000000 100000 1'),
    ('people', 'sqlite_autoindex_people_2', '1000000 100000 1'),
    ('people', 'people_source_key', '500000 50000 25000 1'),
    ('people', 'people_sort', '1000000 100000 2 1'),
    ('people', 'people_last_key', '1000000 100000 20'),
    ('people', 'people_status_sort', '1000000 100000 40000 2 1'),
    ('people', 'people_role_sort', '1000000 100000 30000 2 1'),
    ('people', 'people_title_sort', '1000000 100000 50 2 1'),
    ('people', 'people_team_sort', '1000000 100000 1000 2 1'),
    ('people', 'people_primary_team', '900000 90000 1000'),
    ('people', 'people_manager', '900000 90000 8'),
    ('team_members', 'sqlite_autoindex_team_members_1', '200000 20000 2 1'),
    ('team_members', 'team_members_team', '200000 20000 500'),
    ('team_managers', 'sqlite_autoindex_team_managers_1', '10000 1000 1 1'),
    ('team_managers', 'team_managers_person', '10000 1000 1'),
    ('tokens', 'sqlite_autoindex_tokens_1', '100000 1'),
    ('tokens', 'tokens_person', '100000 10000 2'),
    ('sessions', 'sqlite_autoindex_sessions_1', '100000 1'),
    ('sessions', 'sessions_person', '100000 10000 2'),
    ('api_keys', 'sqlite_autoindex_api_keys_1', '10000 1'),
    ('api_keys', 'sqlite_autoindex_api_keys_2', '10000 1'),
    ('api_keys', 'api_keys_org', '10000 10 1'),
    ('audit_log', 'audit_log_org', '10000000 10000 1'),
    ('audit_log', 'audit_log_person', '5000000 5000 20 1'),
    ('events', 'events_org', '10000000 10000 1'),
    ('outbox_emails', 'sqlite_autoindex_outbox_emails_1', '100000 1'),
    ('outbox_emails', 'outbox_emails_org', '100000 100 1'),
    ('outbox_emails', 'outbox_emails_due', '1000 1');
