-- The Individuals page and the users API sort by job title too: a page of them straight from
-- one index. People without a title come first, as on SQLite. (E-mail, role and status sorts
-- have their indexes already.)
CREATE INDEX people_title_sort ON people (org_id, job_title NULLS FIRST, sort_key, id);
