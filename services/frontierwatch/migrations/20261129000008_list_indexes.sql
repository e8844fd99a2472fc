-- Every List filter is served by an index under a generic plan.
--
-- Lists read `WHERE kind = $1 AND <column> = $2 ... ORDER BY name LIMIT n`
-- through prepared statements, whose generic plan cannot know how
-- selective a value is. With only (kind, name), a filter on one model line
-- among 20,000 releases of another walked all of them (7.9 ms instead of
-- 0.19 ms). Each equality filter gets (kind, column, name), which serves
-- the filter and the order together; organizations are served by the GIN
-- index. A test EXPLAINs every filter of every kind under
-- plan_cache_mode = force_generic_plan.
CREATE INDEX resources_list_model ON resources (kind, model, name) WHERE model IS NOT NULL;
CREATE INDEX resources_list_release ON resources (kind, release, name) WHERE release IS NOT NULL;
CREATE INDEX resources_list_benchmark ON resources (kind, benchmark, name) WHERE benchmark IS NOT NULL;
CREATE INDEX resources_list_category ON resources (kind, category, name) WHERE category IS NOT NULL;
CREATE INDEX resources_list_status ON resources (kind, status, name) WHERE status IS NOT NULL;
CREATE INDEX resources_list_kind_detail ON resources (kind, kind_detail, name) WHERE kind_detail IS NOT NULL;
CREATE INDEX resources_list_country ON resources (kind, country, name) WHERE country IS NOT NULL;
