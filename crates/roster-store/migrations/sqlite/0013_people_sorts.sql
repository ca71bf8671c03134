-- The Individuals page and the users API sort by job title too: a page of them straight from
-- one index. (E-mail, role and status sorts have theirs already.)
CREATE INDEX people_title_sort ON people (org_id, job_title, sort_key, id);
