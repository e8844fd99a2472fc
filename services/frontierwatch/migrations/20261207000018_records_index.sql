-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS resources_records ON resources (benchmark, settings_key, publish_date, score DESC, name) INCLUDE (release, model, verification, relation) WHERE kind = 'benchmark_result' AND settings_key IS NOT NULL;
