-- The Individuals page and the users API sort by any column, each from one index. Job title
-- gains one. The team sort reads `team_key`, the primary team's lower-cased name ('' without a
-- team, so those people come first), written on insert by the store and kept by the triggers
-- below when a person changes team or a team is renamed.
CREATE INDEX people_title_sort ON people (org_id, job_title, sort_key, id);

ALTER TABLE people ADD COLUMN team_key TEXT NOT NULL DEFAULT '';
UPDATE people SET team_key = COALESCE((SELECT t.name_key FROM teams t WHERE t.org_id = people.org_id AND t.id = people.primary_team_id), '')
    WHERE primary_team_id IS NOT NULL;
CREATE INDEX people_team_sort ON people (org_id, team_key, sort_key, id);

CREATE TRIGGER people_team_key_follows_team AFTER UPDATE OF primary_team_id ON people
BEGIN
    UPDATE people SET team_key = COALESCE((SELECT t.name_key FROM teams t WHERE t.org_id = NEW.org_id AND t.id = NEW.primary_team_id), '')
        WHERE org_id = NEW.org_id AND id = NEW.id;
END;

CREATE TRIGGER people_team_key_follows_rename AFTER UPDATE OF name_key ON teams
BEGIN
    UPDATE people SET team_key = NEW.name_key WHERE org_id = NEW.org_id AND primary_team_id = NEW.id;
END;
