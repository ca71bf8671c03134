-- The managers of a team, set in Roster. A person's effective manager is their override
-- manager, else a manager of their primary team, else of the nearest team above it.
CREATE TABLE team_managers (
    org_id     BLOB NOT NULL REFERENCES orgs (id),
    team_id    BLOB NOT NULL,
    person_id  BLOB NOT NULL,
    PRIMARY KEY (org_id, team_id, person_id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX team_managers_person ON team_managers (org_id, person_id);
