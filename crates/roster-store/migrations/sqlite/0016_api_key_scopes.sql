-- What an API key may do: `read` (people and teams) and `events` (the feed), comma-separated.
-- Keys made before scopes keep what they could do.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,events';
