-- A page of people with a given status or role, in name order, straight from one index: with
-- only (org_id, status), a rare status (one active person among 100,000 invited) made the
-- planner walk the whole name index looking for matches.
CREATE INDEX people_status_sort ON people (org_id, status, sort_key, id);
CREATE INDEX people_role_sort ON people (org_id, role, sort_key, id);
DROP INDEX people_status;
DROP INDEX people_role;
