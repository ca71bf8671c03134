-- A page of people with a given status or role, in name order, straight from one index.
CREATE INDEX people_status_sort ON people (org_id, status, sort_key, id);
CREATE INDEX people_role_sort ON people (org_id, role, sort_key, id);
DROP INDEX people_status;
DROP INDEX people_role;
